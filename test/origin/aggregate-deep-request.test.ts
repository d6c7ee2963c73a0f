import { describe, expect, it } from "vitest";
import { type AggregateOptions, serveAggregate } from "../../aws/origin/aggregate/serve-aggregate.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";
import { MODERN_VERSION } from "./modern-request.ts";

// s21 insider I4: arguments nested 200,000 deep reach the aggregated endpoint (the edge refuses them past 256
// levels; an edge assertion's holder need not pass the edge). JSON.parse takes them, JSON.stringify of the server's
// sub-request overflowed the stack, and the origin answered a bare HTTP 500. Now a JSON-RPC error, and no server asked.
const asked: string[] = [];
const options: AggregateOptions = {
  servers: ["alpha"],
  upstreamTimeoutMs: 5_000,
  keepAliveMs: 0,
  askServer: async (server, _assertion, request) => {
    asked.push(`${server} ${request.headers.get("mcp-method")}`);
    return Response.json({ jsonrpc: "2.0", id: 7, result: { tools: [{ name: "echo", inputSchema: { type: "object" } }] } });
  },
  leftOut: (server, method, reason) => asked.push(`left out ${server} ${method}: ${reason}`),
};
const USER = {
  sub: "u",
  email: "u@example.com",
  groups: [],
  client_id: "c",
  server: ALL_SERVERS,
  purpose: "mcp",
  jti: "j",
  exp: 0,
} as VerifiedAssertion;

const LEVELS = 200_000;
const deep = `${"[".repeat(LEVELS)}${"]".repeat(LEVELS)}`;
const meta = JSON.stringify({
  "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
  "io.modelcontextprotocol/clientCapabilities": {},
});

/** The body as text: building it as an object and serializing it would overflow here first. */
const deepRequest = (method: string, params: string) =>
  new Request("http://origin.test/mcp", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-method": method },
    body: `{"jsonrpc":"2.0","id":7,"method":"${method}","params":{${params},"_meta":${meta}}}`,
  });

describe("a request nested too deep to send on, at the aggregated endpoint", () => {
  for (const [method, params] of [
    ["tools/call", `"name":"alpha__echo","arguments":{"x":${deep}}`],
    // Sent on to every server at once: refused whole, not answered with each server left out.
    ["subscriptions/listen", `"notifications":{},"x":${deep}`],
  ] as const) {
    it(`${method}: answered -32600 as JSON-RPC (not a 500), no server asked`, async () => {
      asked.length = 0;
      const response = await serveAggregate(options, USER, deepRequest(method, params));
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        jsonrpc: "2.0",
        id: 7,
        error: { code: -32600, message: expect.stringMatching(/^the request cannot be sent on to a server: .*nests too deep/) },
      });
      expect(asked).toEqual([]);
    });
  }

  it("while the same request nested a little is sent on", async () => {
    asked.length = 0;
    const response = await serveAggregate(
      options,
      USER,
      deepRequest("tools/call", `"name":"alpha__echo","arguments":{"x":[[1]]}`),
    );
    expect(response.status).toBe(200);
    expect(asked).toEqual(["alpha tools/call"]);
  });
});
