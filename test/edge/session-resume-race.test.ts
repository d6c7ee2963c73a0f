import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { asResponse } from "../../worker/mcp/bridge/direct-answer.ts";
import type { SessionIdentity, SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import type { SessionHttpRequest } from "../../worker/mcp/bridge/session-request.ts";
import { capturedAudit } from "./audit-capture.ts";
import { ALICE, aliceCallAudit, sessionObjects as sessions } from "./stored-session.ts";

// A 2025-era client whose connection drops during a long call resumes its POST's stream (GET + Last-Event-ID) while
// the session object still holds the stream it lost: the client's cancel does not reach the object.

const CALL = aliceCallAudit("2025-11-25");

/** A stored session on an origin that begins its answer at once and finishes it 1.5 s later. */
async function slowSession() {
  const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "r");
  const stub = sessions().get(sessions().idFromName(sessionId)) as DurableObjectStub<McpSession>;
  const record: SessionRecord = {
    sessionId,
    identity: ALICE,
    initialize: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } },
    discover: { serverInfo: { name: "everything", version: "1.0.0" }, capabilities: { tools: {} } },
    subscriptions: [],
    createdAt: Date.now(),
  };
  const origin = inject("slowStreamUrl");
  const audit = capturedAudit();
  await runInDurableObject(stub, (instance, state) => {
    state.storage.kv.put("record", record);
    const object = instance as unknown as { env: EdgeEnv };
    object.env = { ...object.env, ORIGIN_URL: origin, ...(audit.env as Partial<EdgeEnv>) };
  });
  return { stub, sessionId };
}

const request = (
  sessionId: string,
  method: "POST" | "GET",
  extra: Record<string, string>,
  body?: unknown,
): SessionHttpRequest => ({
  url: "http://localhost:8787/mcp/everything",
  method,
  headers: {
    accept: method === "GET" ? "text/event-stream" : "application/json, text/event-stream",
    "mcp-session-id": sessionId,
    "mcp-protocol-version": "2025-11-25",
    ...(body === undefined ? {} : { "content-type": "application/json" }),
    ...extra,
  },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

/** Reads `body` until it carried an event id; the last id read, after which the client cancels it (its connection drops). */
async function lastEventIdOf(body: ReadableStream<Uint8Array>): Promise<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let read = "";
  while (!/^id: /m.test(read)) read += (await reader.read()).value ?? "";
  await reader.cancel();
  return [...read.matchAll(/^id: (.+)$/gm)].at(-1)?.[1] as string;
}

const resume = async (stub: DurableObjectStub<McpSession>, sessionId: string, lastEventId: string) => {
  // The client reconnects after the stream's `retry:` (the SDK's 1 s; here sooner).
  await new Promise((resolve) => setTimeout(resolve, 200));
  return asResponse(await stub.serve(request(sessionId, "GET", { "last-event-id": lastEventId }), ALICE, sessionId));
};

describe("a client resuming a POST stream after its connection broke, the call still running", () => {
  it("gets the stream back, and the call's answer on it, also when the resumed stream breaks in turn", async () => {
    const { stub, sessionId } = await slowSession();
    const call = {
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: {}, _meta: { progressToken: 1 } },
    };
    const posted = asResponse(
      await stub.serve(request(sessionId, "POST", {}, call), ALICE, sessionId, { ...CALL, started: Date.now() }),
    );
    expect(posted.headers.get("content-type")).toContain("text/event-stream");
    const first = await resume(stub, sessionId, await lastEventIdOf(posted.body as ReadableStream<Uint8Array>));
    expect(first.status).toBe(200);
    // Its connection drops again before the answer: the second resume must not find the first one still held.
    const second = await resume(stub, sessionId, await lastEventIdOf(first.body as ReadableStream<Uint8Array>));
    const text = await second.text();
    expect(second.status, text).toBe(200);
    expect(text).toMatch(/^data: .*"result".*"id":1\}$/m);
  });
});
