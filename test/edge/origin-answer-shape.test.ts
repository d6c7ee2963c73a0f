import { describe, expect, inject, it, vi } from "vitest";
import { exchangeWithOrigin, originLinkOf } from "../../worker/mcp/bridge/origin-exchange.ts";
import { testEnv } from "./edge-env.ts";

// What a 2025-era session reads of the origin's answer is JSON-RPC, or its own -32000 saying it was not: a body without
// a numeric code and a message reached its client as `error: {}`, on which SDK clients wait until their timeout
// (s23 hunt fuzz F8). A stand-in origin (test/edge/node/) answers as told.
async function answersOf(answer: unknown) {
  const origin = `${inject("groupsOriginUrl")}/x-${crypto.randomUUID().slice(0, 8)}`;
  await fetch(`${origin}/_control/answer`, { method: "POST", body: JSON.stringify(answer) });
  const link = originLinkOf(testEnv({ ORIGIN_URL: origin }));
  const claims = { sub: "alice", groups: [], client_id: "c", server: "everything", client_era: "legacy" as const };
  const request = { id: 5, method: "tools/list", params: {} };
  const messages = [];
  for await (const message of exchangeWithOrigin(link, "everything", claims, request, AbortSignal.timeout(10_000)))
    messages.push(message);
  return messages;
}

const NOT_JSON_RPC = {
  jsonrpc: "2.0",
  id: 5,
  error: { code: -32000, message: "the origin answered HTTP 200 without a JSON-RPC message" },
};

describe("the origin's answer as a session reads it", () => {
  it("is relayed when it is JSON-RPC: a result, an error with its code and message, a request", async () => {
    for (const answer of [
      { jsonrpc: "2.0", id: 5, result: { tools: [] } },
      { jsonrpc: "2.0", id: 5, error: { code: -32602, message: "bad" } },
      { sse: [{ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "x" } }] },
    ])
      expect(await answersOf(answer)).toEqual("sse" in answer ? answer.sse : [answer]);
  });

  it("is the session's -32000 when it is not: a plain error body, an error without code or message, no jsonrpc", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const answer of [
        { error: "internal_error" },
        { jsonrpc: "2.0", id: 5, error: {} },
        { jsonrpc: "2.0", id: 5, error: "database_unavailable" },
        { id: 5, result: { tools: [] } },
        { sse: [{ error: "busy" }] },
      ])
        expect(await answersOf(answer), JSON.stringify(answer)).toEqual([NOT_JSON_RPC]);
    } finally {
      logged.mockRestore();
    }
  });
});
