import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { capturedAudit } from "./audit-capture.ts";
import { testEnv } from "./edge-env.ts";

// An initialized 2024-11-05 HTTP+SSE session takes one JSON-RPC message per POST, as the SDK's own transport does: anything else (a
// batch, a method that is not a string, no method and no result) is refused with 400 at once, rather than answered 202
// and then never, which left the client waiting for its own timeout.

const sessions = () => (testEnv() as EdgeEnv).MCP_SESSION ?? (env as unknown as EdgeEnv).MCP_SESSION;
const caller = { sub: "alice", groups: [], clientId: "client-1", server: "everything" };
const AUDIT: RequestAudit = {
  started: Date.now(),
  kind: "mcp.request",
  userSub: "alice",
  clientId: "client-1",
  server: "everything",
  method: "ping",
  protocolVersion: "2024-11-05",
};

async function openSession() {
  const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "v");
  const stub = sessions().get(sessions().idFromName(sessionId)) as DurableObjectStub<McpSession>;
  const origin = `${inject("groupsOriginUrl")}/i-${crypto.randomUUID().slice(0, 8)}`;
  await runInDurableObject(stub, (instance) => {
    const object = instance as unknown as { env: EdgeEnv };
    object.env = { ...object.env, ORIGIN_URL: origin, ...(capturedAudit().env as Partial<EdgeEnv>) };
  });
  const stream = await stub.openSse(caller, sessionId, `/mcp/everything?sessionId=${sessionId}`);
  let text = "";
  void stream.body?.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write: (chunk) => {
        text += chunk;
      },
    }),
  );
  const params = { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "c", version: "1" } };
  const initialize = { jsonrpc: "2.0", id: 0, method: "initialize", params };
  expect((await stub.postSse(initialize, caller, { ...AUDIT, method: "initialize" })).status).toBe(202);
  await expect.poll(() => text.includes('"id":0')).toBe(true);
  return stub;
}

describe("a 2024-11-05 session's POSTs", () => {
  it.each([
    ["a batch", [{ jsonrpc: "2.0", id: "b1", method: "ping" }]],
    ["a method that is not a string", { jsonrpc: "2.0", id: "q", method: 123 }],
    ["no method, result or error", { jsonrpc: "2.0", foo: 1 }],
    ["no jsonrpc member", { id: 1, method: "ping" }],
  ])("refuse %s with 400", async (_, message) => {
    const stub = await openSession();
    const answer = await stub.postSse(message as never, caller, AUDIT);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: { code: -32600, message: expect.stringContaining("Invalid message") } });
  });

  it("refuse an invalid message with its own id when it has a readable one (s23 hunt fuzz L1)", async () => {
    const stub = await openSession();
    const answer = await stub.postSse({ jsonrpc: "2.0", id: 6, method: "tools/call", params: null } as never, caller, AUDIT);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({
      id: 6,
      error: { code: -32600, message: expect.stringMatching(/^Invalid message: /) },
    });
  });

  it("take one message", async () => {
    const stub = await openSession();
    const answer = await stub.postSse({ jsonrpc: "2.0", id: 1, method: "ping" }, caller, AUDIT);
    expect(answer.status).toBe(202);
  });
});
