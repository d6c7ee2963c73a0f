import { env, runInDurableObject } from "cloudflare:test";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import type { SessionIdentity, SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import type { SessionHttpRequest } from "../../worker/mcp/bridge/session-request.ts";
import { testEnv } from "./edge-env.ts";

// A 2025-era session object as tests meet it after eviction: only its stored record, nothing in memory.

export const sessionObjects = () => (testEnv() as EdgeEnv).MCP_SESSION ?? (env as unknown as EdgeEnv).MCP_SESSION;

export const ALICE: SessionIdentity = {
  sub: "alice",
  email: "alice@example.com",
  groups: [],
  clientId: "client-1",
  server: "everything",
};

/** The audit the Worker hands the object with Alice's `tools/call echo` in a session of `protocolVersion`. */
export const aliceCallAudit = (protocolVersion: string): RequestAudit => ({
  started: Date.now(),
  kind: "mcp.request",
  userSub: ALICE.sub,
  userEmail: ALICE.email,
  clientId: ALICE.clientId,
  server: ALICE.server,
  method: "tools/call",
  tool: "echo",
  protocolVersion,
});

/** Alice's session on an upstream whose resources can be subscribed to: the session answers resources/subscribe itself. */
export function storedRecord(sessionId: string): SessionRecord {
  return {
    sessionId,
    identity: ALICE,
    initialize: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "test-client", version: "1.0.0" } },
    discover: {
      serverInfo: { name: "everything", version: "1.0.0" },
      capabilities: { tools: {}, logging: {}, resources: { subscribe: true } },
    },
    subscriptions: [],
    createdAt: Date.now(),
  };
}

/** A session whose object holds only its stored record: nothing in memory, as after eviction. */
export async function storedSession(): Promise<{ stub: DurableObjectStub<McpSession>; sessionId: string }> {
  const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "x");
  const stub = sessionObjects().get(sessionObjects().idFromName(sessionId));
  await runInDurableObject(stub, async (_instance, state) => {
    state.storage.kv.put("record", storedRecord(sessionId));
  });
  return { stub, sessionId };
}

/** A POST of one JSON-RPC message on the session, as the Worker hands it to the object. */
export const sessionPost = (sessionId: string, message: Record<string, unknown>): SessionHttpRequest => ({
  url: "http://localhost:8787/mcp/everything",
  method: "POST",
  headers: {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-session-id": sessionId,
    "mcp-protocol-version": "2025-11-25",
  },
  body: JSON.stringify({ jsonrpc: "2.0", ...message }),
});
