import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import { asResponse } from "../../worker/mcp/bridge/direct-answer.ts";
import type { SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import type { SessionHttpRequest } from "../../worker/mcp/bridge/session-request.ts";
import { ALICE, sessionPost as post, storedSession } from "./stored-session.ts";

// Requests arriving at once on one 2025-era session object that holds only its stored record (after eviction).

const serve = async (stub: DurableObjectStub<McpSession>, http: SessionHttpRequest) =>
  asResponse(await stub.serve(http, ALICE, http.headers["mcp-session-id"] as string));

describe("a stored session receiving requests at once", () => {
  it("keeps every resource subscription made by calls that arrive together", async () => {
    const { stub, sessionId } = await storedSession();
    // Assembling the session made slow, as a busy isolate makes it now and then: requests keep arriving meanwhile.
    await runInDurableObject(stub, (instance) => {
      const object = instance as unknown as { assemble: (...args: unknown[]) => Promise<unknown> };
      const assemble = object.assemble.bind(instance);
      object.assemble = async (...args) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return assemble(...args);
      };
    });
    const uris = ["file:///a", "file:///b", "file:///c"];
    const answers = await Promise.all(
      uris.map((uri, index) => serve(stub, post(sessionId, { id: index + 1, method: "resources/subscribe", params: { uri } }))),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      await answer.text();
    }
    const stored = await runInDurableObject(stub, async (_instance, state) => state.storage.kv.get<SessionRecord>("record"));
    expect(new Set(stored?.subscriptions)).toEqual(new Set(uris));
  });
});

const del = (sessionId: string): SessionHttpRequest => ({
  url: "http://localhost:8787/mcp/everything",
  method: "DELETE",
  headers: { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" },
});

describe("a session deleted while a call is in flight", () => {
  it("leaves nothing in storage once both are answered", async () => {
    const { stub, sessionId } = await storedSession();
    await (await serve(stub, post(sessionId, { id: 0, method: "ping" }))).text();
    const call = serve(
      stub,
      post(sessionId, { id: 1, method: "tools/call", params: { name: "echo", arguments: { message: "hi" } } }),
    );
    const ended = serve(stub, del(sessionId));
    const [callAnswer, deleteAnswer] = await Promise.all([call, ended]);
    const callText = await callAnswer.text();
    await deleteAnswer.text();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const left = await runInDurableObject(stub, async (_instance, state) => ({
      keys: [...state.storage.kv.list()].map(([key]) => key),
      alarm: await state.storage.getAlarm(),
    }));
    // The call is answered (its error, the session having ended under it), not left hanging.
    expect(JSON.parse(callText)).toMatchObject({ id: 1, error: { code: -32000 } });
    expect(deleteAnswer.status).toBe(200);
    expect(left).toEqual({ keys: [], alarm: null });
  });
});
