import { describe, expect, it } from "vitest";
import { toLegacyResult } from "../../worker/mcp/bridge/session-server.ts";

const SERVER_INFO = { "io.modelcontextprotocol/serverInfo": { name: "upstream", version: "1.0.0" } };

describe("a 2026-07-28 result as a 2025-era client gets it", () => {
  it("loses the modern-only fields and the hop's server info, and keeps the upstream's own _meta", () => {
    const result = {
      content: [{ type: "text", text: "hi" }],
      resultType: "complete",
      ttlMs: 1000,
      cacheScope: "user",
      _meta: { ...SERVER_INFO, "example.com/trace": "abc" },
    };
    expect(toLegacyResult(result)).toEqual({ content: [{ type: "text", text: "hi" }], _meta: { "example.com/trace": "abc" } });
  });

  it("drops a _meta left empty, and leaves the result it was given unchanged", () => {
    const result = { content: [], _meta: { ...SERVER_INFO } };
    expect(toLegacyResult(result)).toEqual({ content: [] });
    expect(result._meta).toEqual(SERVER_INFO);
  });

  it("passes a result without _meta as it is", () => {
    expect(toLegacyResult({ tools: [{ name: "echo" }] })).toEqual({ tools: [{ name: "echo" }] });
  });
});
