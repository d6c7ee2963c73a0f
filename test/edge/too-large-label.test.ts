import type { JSONRPCRequest } from "@modelcontextprotocol/server";
import { afterEach, expect, it, vi } from "vitest";
import { ANSWER_OUTCOME_HEADER, formatAnswerOutcome } from "../../contract/answer-outcome.ts";
import { answerDirectly, isDirectAnswer } from "../../worker/mcp/bridge/direct-answer.ts";
import { MAX_ORIGIN_MESSAGE_BYTES, originLinkOf } from "../../worker/mcp/bridge/origin-exchange.ts";
import { claimsOf, type SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import { testEnv } from "./edge-env.ts";

// The origin labels every JSON answer with its outcome; a session that cannot read the answer (over the 16 MiB it reads
// of one message) answers its client with an error of its own, and audits that, not the label.
const ORIGIN = "https://origin.too-large-label.test";
const record: SessionRecord = {
  sessionId: "c".repeat(43),
  identity: { sub: "alice", groups: [], clientId: "client-1", server: "everything" },
  initialize: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } },
  discover: { serverInfo: { name: "everything", version: "1" }, capabilities: { tools: {} } },
  subscriptions: [],
  createdAt: Date.now(),
};
afterEach(() => vi.unstubAllGlobals());

it("audits a result too large for the session as the error its client gets, not as the origin's ok label", async () => {
  const passThrough = globalThis.fetch;
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(ORIGIN)) return passThrough(input, init);
    const { id } = (await request.json()) as { id: unknown };
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id,
      result: { content: [{ type: "text", text: "x".repeat(MAX_ORIGIN_MESSAGE_BYTES) }] },
    });
    return new Response(body, {
      headers: { "content-type": "application/json", [ANSWER_OUTCOME_HEADER]: formatAnswerOutcome({ outcome: "ok" }) },
    });
  });
  const request = { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "big" } } as JSONRPCRequest;
  const served = await answerDirectly(
    originLinkOf(testEnv({ ORIGIN_URL: ORIGIN })),
    record,
    claimsOf(record.identity),
    request,
    new AbortController(),
  );
  expect(isDirectAnswer(served as never)).toBe(true);
  const answer = served as { json: string; outcome?: string };
  expect(JSON.parse(answer.json).error.code).toBe(-32000);
  expect(answer.outcome).toBe(formatAnswerOutcome({ outcome: "error", errorCode: -32000 }));
});
