import type { JSONRPCRequest, ServerContext } from "@modelcontextprotocol/server";
import { describe, expect, inject, it } from "vitest";
import { ANSWER_WITHIN_META_KEY } from "../../contract/answer-within.ts";
import { originLinkOf } from "../../worker/mcp/bridge/origin-exchange.ts";
import { claimsOf, type SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import { CLIENT_ANSWER_TIMEOUT_MS, sessionServer } from "../../worker/mcp/bridge/session-server.ts";
import { testEnv } from "./edge-env.ts";

// A 2025-era session relaying a call whose answer is input_required, against a stand-in origin (test/edge/node/)
// that answers with the result a test sets: the client is asked with the wait the origin said it keeps.

const record: SessionRecord = {
  sessionId: "s".repeat(43),
  identity: { sub: "alice", groups: [], clientId: "client-1", server: "everything" },
  initialize: { protocolVersion: "2025-11-25", capabilities: { elicitation: {} }, clientInfo: { name: "c", version: "1" } },
  discover: { serverInfo: { name: "everything", version: "1" }, capabilities: { tools: {} } },
  subscriptions: [],
  createdAt: Date.now(),
};

/** The timeout the session gives the client's answer when the origin's input_required result carries `meta`. */
async function askedWithin(meta: Record<string, unknown> | undefined): Promise<number | undefined> {
  const url = `${inject("groupsOriginUrl")}/r-${crypto.randomUUID().slice(0, 8)}`;
  const result = {
    resultType: "input_required",
    inputRequests: { form: { method: "elicitation/create", params: { message: "Name?", requestedSchema: {} } } },
    requestState: "sealed",
    ...(meta && { _meta: meta }),
  };
  await fetch(`${url}/_control/answer`, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, result }) });
  const server = sessionServer({
    origin: originLinkOf(testEnv({ ORIGIN_URL: url })),
    record: () => record,
    claims: () => claimsOf(record.identity),
    save: () => {},
    subscriptionsChanged: () => {},
  });
  let timeout: number | undefined;
  const ctx = {
    mcpReq: {
      signal: new AbortController().signal,
      notify: async () => {},
      send: async (_request: unknown, options?: { timeout?: number }) => {
        timeout = options?.timeout;
        throw new Error("the client did not answer");
      },
    },
  } as unknown as ServerContext;
  const request: JSONRPCRequest = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "ask", arguments: {} } };
  await expect(server.fallbackRequestHandler?.(request as never, ctx)).rejects.toThrow("the client did not answer");
  return timeout;
}

describe("a 2025-era session asking its client for an input_required round's answers", () => {
  it("waits as long as the origin said it keeps the round", async () => {
    expect(await askedWithin({ [ANSWER_WITHIN_META_KEY]: 90_000 })).toBe(90_000);
  });

  it("waits the longest any origin may when the origin does not say, or asks for longer", async () => {
    expect(await askedWithin(undefined)).toBe(CLIENT_ANSWER_TIMEOUT_MS);
    expect(await askedWithin({ [ANSWER_WITHIN_META_KEY]: CLIENT_ANSWER_TIMEOUT_MS * 10 })).toBe(CLIENT_ANSWER_TIMEOUT_MS);
  });
});
