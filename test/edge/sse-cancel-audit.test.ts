import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { capturedAudit } from "./audit-capture.ts";
import { aliceCallAudit, sessionObjects as sessions } from "./stored-session.ts";

// A 2024-11-05 session's object holds a request's audit until the request's answer is sent on the stream. The SDK's
// server sends none to a request its client cancelled, so without an answer of the object's own the audit waited for
// the stream's end (the client's choice: hours, or never).

const CALL = aliceCallAudit("2024-11-05");

/** A 2024-11-05 session on an origin that answers every request 1.5 s after its first word, and what its stream carried. */
async function slowSession() {
  const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "c");
  const stub = sessions().get(sessions().idFromName(sessionId)) as DurableObjectStub<McpSession>;
  const caller = { sub: "alice", groups: [], clientId: "client-1", server: "everything" };
  const audit = capturedAudit();
  await runInDurableObject(stub, (instance) => {
    const object = instance as unknown as { env: EdgeEnv };
    object.env = { ...object.env, ORIGIN_URL: inject("slowStreamUrl"), ...(audit.env as Partial<EdgeEnv>) };
  });
  const stream = await stub.openSse(caller, sessionId, `/mcp/everything?sessionId=${sessionId}`);
  let read = "";
  void stream.body
    ?.pipeThrough(new TextDecoderStream())
    .pipeTo(
      new WritableStream({
        write: (text) => {
          read += text;
        },
      }),
    )
    .catch(() => {});
  const post = (message: Record<string, unknown>) =>
    stub.postSse({ jsonrpc: "2.0", ...message }, caller, { ...CALL, started: Date.now(), method: String(message.method) });
  return { stub, audit, post, read: () => read };
}

const callRows = (events: AuditEvent[]) => events.filter((event) => event.method === "tools/call");

describe("a 2024-11-05 request its client cancelled", () => {
  it("is answered -32800 on the stream and audited cancelled at once, while the stream lives", async () => {
    const { stub, audit, post, read } = await slowSession();
    const initialize = { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "c", version: "1" } };
    expect((await post({ id: 0, method: "initialize", params: initialize })).status).toBe(202);
    expect((await post({ id: 7, method: "tools/call", params: { name: "echo", arguments: {} } })).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const cancel = { method: "notifications/cancelled", params: { requestId: 7, reason: "user gave up" } };
    expect((await post(cancel)).status).toBe(202);

    await expect.poll(() => callRows(audit.events).length, { timeout: 1_000 }).toBe(1);
    expect(callRows(audit.events)[0]).toMatchObject({ outcome: "cancelled", errorCode: -32800, httpStatus: 202 });
    expect(read()).toContain('"id":7,"error":{"code":-32800');
    // The origin's late answer reaches nobody, and nothing is recorded twice.
    await new Promise((resolve) => setTimeout(resolve, 1_800));
    expect(callRows(audit.events)).toHaveLength(1);
    expect(read().match(/"id":7,/g)).toHaveLength(1);
    await stub.evict();
  });

  it("already answered: nothing more is sent, and its audit keeps the answer", async () => {
    const { stub, audit, post, read } = await slowSession();
    const initialize = { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "c", version: "1" } };
    await post({ id: 0, method: "initialize", params: initialize });
    await post({ id: 8, method: "tools/call", params: { name: "echo", arguments: {} } });
    await expect.poll(() => callRows(audit.events).length, { timeout: 4_000 }).toBe(1);
    await post({ method: "notifications/cancelled", params: { requestId: 8 } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(callRows(audit.events)).toHaveLength(1);
    expect(callRows(audit.events)[0]?.outcome).toBe("ok");
    expect(read()).not.toContain("-32800");
    await stub.evict();
  });
});
