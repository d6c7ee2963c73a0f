import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { capturedAudit } from "./audit-capture.ts";
import { testEnv } from "./edge-env.ts";

// A 2024-11-05 client (or two tabs of one) sends `initialize` twice at the same moment, before its session has a server.

const sessions = () => (testEnv() as EdgeEnv).MCP_SESSION ?? (env as unknown as EdgeEnv).MCP_SESSION;
const caller = { sub: "alice", groups: [], clientId: "client-1", server: "everything" };
const AUDIT: RequestAudit = {
  started: Date.now(),
  kind: "mcp.request",
  userSub: "alice",
  clientId: "client-1",
  server: "everything",
  method: "initialize",
  protocolVersion: "2024-11-05",
};
const initialize = { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "c", version: "1" } };

/** An open 2024-11-05 session on an origin of its own; what its stream carried so far, as text. */
async function openSession(answer?: unknown) {
  const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "i");
  const stub = sessions().get(sessions().idFromName(sessionId)) as DurableObjectStub<McpSession>;
  const origin = `${inject("groupsOriginUrl")}/i-${crypto.randomUUID().slice(0, 8)}`;
  if (answer) await fetch(`${origin}/_control/answer`, { method: "POST", body: JSON.stringify(answer) });
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
  const post = (message: Record<string, unknown>) => stub.postSse({ jsonrpc: "2.0", ...message }, caller, AUDIT);
  const answers = () =>
    text
      .split("\n")
      .filter((line) => line.startsWith("data: {"))
      .map((line) => JSON.parse(line.slice(6)) as { id?: unknown; result?: unknown; error?: unknown });
  const seen = async () => (await (await fetch(`${origin}/_control/seen`)).json()) as { path: string }[];
  return { post, answers, seen };
}

describe("two initializes of a 2024-11-05 session at once", () => {
  it("begin one server: both are answered on the stream, and the origin is asked as for one", async () => {
    const alone = await openSession();
    expect((await alone.post({ id: 0, method: "initialize", params: initialize })).status).toBe(202);
    await expect.poll(() => alone.answers().filter((answer) => answer.id === 0).length).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const asked = (await alone.seen()).length;

    const racing = await openSession();
    const statuses = await Promise.all([
      racing.post({ id: 0, method: "initialize", params: initialize }).then((response) => response.status),
      racing.post({ id: 1, method: "initialize", params: initialize }).then((response) => response.status),
    ]);
    expect(statuses).toEqual([202, 202]);
    await expect.poll(() => racing.answers().filter((answer) => answer.id === 1).length).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // One server on the stream: each answered once (two would both answer each message).
    expect(racing.answers().map((answer) => answer.id)).toEqual([0, 1]);
    expect((await racing.seen()).length).toBe(asked);
  });

  it("are refused alike when the upstream cannot be discovered: the second tries anew after the first", async () => {
    const down = { jsonrpc: "2.0", id: 1, error: { code: -32603, message: "upstream down" } };
    const racing = await openSession(down);
    const [first, second] = await Promise.all([
      racing.post({ id: 0, method: "initialize", params: initialize }),
      racing.post({ id: 1, method: "initialize", params: initialize }),
    ]);
    expect(second.status).toBe(first.status);
    expect(first.status).not.toBe(202);
    // Each is answered as its own request, as if they had come one after the other.
    const ids = [await first.json(), await second.json()].map((answer) => (answer as { id?: unknown }).id);
    expect(ids).toEqual([0, 1]);
    expect(await racing.seen()).toHaveLength(2);
  });
});
