import { describe, expect, it, vi } from "vitest";
import { createOriginApp } from "../../aws/origin/app.ts";
import { testEdgeKey, testOriginParts } from "./origin-under-test.ts";

// The origin's own refusals on its MCP endpoints (a server's and the aggregated /mcp) are JSON-RPC errors: a 2025-era
// client's session relays what the origin answers as a JSON-RPC message, and a body without `code` and `message`
// reached it as `error: {}`, which SDK clients wait on until their timeout (s23 hunt fuzz F8).
const init = {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
};

async function originFailingWith(error: Error) {
  const parts = testOriginParts(await testEdgeKey());
  return createOriginApp({
    ...parts,
    verifyAssertion: async () => {
      throw error;
    },
    aggregate: { servers: ["everything"], upstreamTimeoutMs: 1_000, keepAliveMs: 0 },
  });
}

describe("the origin's own failures on its MCP endpoints", () => {
  it("answer a database outage with a JSON-RPC -32000 and Retry-After on both endpoints", async () => {
    const terminated = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });
    const app = await originFailingWith(terminated);
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const path of ["/servers/everything/mcp", "/mcp"]) {
        const answer = await app.request(path, init);
        expect(answer.status, path).toBe(503);
        expect(answer.headers.get("retry-after"), path).toBe("5");
        expect(await answer.json(), path).toEqual({
          jsonrpc: "2.0",
          id: null,
          error: { code: -32000, message: "the origin's database is unavailable; retry shortly" },
        });
      }
    } finally {
      logged.mockRestore();
    }
  });

  it("answer an unexpected failure with a JSON-RPC -32603 there, and keep their plain answer elsewhere", async () => {
    const app = await originFailingWith(new TypeError("a bug"));
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const path of ["/servers/everything/mcp", "/mcp"]) {
        const answer = await app.request(path, init);
        expect(answer.status, path).toBe(500);
        expect(await answer.json(), path).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32603 } });
      }
      expect(await (await app.request("/audit/events", init)).json()).toEqual({ error: "internal_error" });
    } finally {
      logged.mockRestore();
    }
  });
});
