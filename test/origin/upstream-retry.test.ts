import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// An HTTP upstream behind a balancer of its own that answers 502 now and then (a rolling deploy): the origin sends a
// read, or a call of a tool its server marks read-only or idempotent, once more; never a call that could act twice.

const ran: Record<string, number> = {};
/** Per MCP method, how many of the next requests the upstream's "balancer" answers 502, and how many it saw. */
const gate = { failNext: new Map<string, number>(), seen: new Map<string, number>() };

function upstreamServer(): McpServer {
  const server = new McpServer({ name: "flaky", version: "1.0.0" });
  const tool = (name: string, annotations: Record<string, boolean>) =>
    server.registerTool(name, { description: name, inputSchema: z.object({}), annotations }, async () => {
      ran[name] = (ran[name] ?? 0) + 1;
      return { content: [{ type: "text", text: `${name} ran` }] };
    });
  tool("lookup", { readOnlyHint: true });
  tool("set_flag", { readOnlyHint: false, idempotentHint: true });
  tool("send_mail", { readOnlyHint: false });
  return server;
}

let listening: ReturnType<typeof serve>;
let upstreamUrl: string;
let pool: HostPool;
const caller = { sub: "alice", server: "flaky", clientId: "test-client", era: "modern" as const };

beforeAll(async () => {
  const handler = createMcpHandler(() => upstreamServer(), { legacy: "reject" });
  const url = await new Promise<string>((resolve) => {
    listening = serve(
      {
        port: 0,
        hostname: "127.0.0.1",
        overrideGlobalObjects: false,
        fetch: (request: Request) => {
          const method = request.headers.get("mcp-method") ?? "";
          gate.seen.set(method, (gate.seen.get(method) ?? 0) + 1);
          const failing = gate.failNext.get(method) ?? 0;
          if (failing === 0) return handler.fetch(request);
          gate.failNext.set(method, failing - 1);
          return new Response("Bad Gateway", { status: 502 });
        },
      },
      (info: AddressInfo) => resolve(`http://127.0.0.1:${info.port}/mcp`),
    );
  });
  upstreamUrl = url;
  pool = flakyPool();
});

function flakyPool(breaker?: { failures: number; openMs: number }): HostPool {
  return createHostPool({
    servers: { flaky: { transport: "http", url: upstreamUrl, protocol: "streamable-http", identity: "none", headers: {} } },
    idleTimeoutMs: 60_000,
    maxProcesses: 4,
    host: testHostOptions,
    breaker,
    log: () => {},
  });
}
afterAll(async () => {
  await pool?.close();
  await new Promise((resolve) => listening?.close(resolve));
});
beforeEach(() => {
  gate.failNext.clear();
  gate.seen.clear();
  for (const name of Object.keys(ran)) delete ran[name];
});

type Answer = { result?: { tools?: unknown[]; content?: { text: string }[] }; error?: { code: number; message: string } };
async function send(method: string, params: Record<string, unknown> = {}, through = pool): Promise<Answer> {
  const lease = await through.acquire("flaky", caller);
  try {
    const messages = (await messagesOf(await lease.host.fetch(modernRequest(method, params), caller))) as Answer[];
    return messages.find((message) => message.result || message.error) as Answer;
  } finally {
    lease.release();
  }
}
const callTool = (name: string) => send("tools/call", { name, arguments: {} });

describe("retries toward an HTTP upstream", () => {
  it("sends a list again after a 502", async () => {
    await send("tools/list"); // the connection and its tool schemas, before counting
    gate.seen.clear();
    gate.failNext.set("tools/list", 1);
    expect((await send("tools/list")).result?.tools).toHaveLength(3);
    expect(gate.seen.get("tools/list")).toBe(2);
  });

  it.each(["lookup", "set_flag"])(
    "sends a call of %s (read-only or idempotent) again after a 502, and it runs once",
    async (name) => {
      gate.failNext.set("tools/call", 1);
      expect((await callTool(name)).result?.content?.[0]?.text).toBe(`${name} ran`);
      expect(gate.seen.get("tools/call")).toBe(2);
      expect(ran[name]).toBe(1);
    },
  );

  it("never sends a call of a tool that could act twice again: the 502 reaches the client as an error", async () => {
    gate.failNext.set("tools/call", 1);
    const answer = await callTool("send_mail");
    expect(answer.error?.code).toBe(-32000);
    expect(answer.error?.message).toBe("the upstream server failed: HTTP 502 from the upstream server");
    expect(gate.seen.get("tools/call")).toBe(1);
    expect(ran.send_mail).toBeUndefined();
  });

  it("tries twice at most", async () => {
    gate.failNext.set("tools/call", 5);
    const answer = await callTool("lookup");
    expect(answer.error?.code).toBe(-32000);
    expect(gate.seen.get("tools/call")).toBe(2);
    expect(ran.lookup).toBeUndefined();
  });

  it("counts a request sent twice as one failure for the circuit breaker", async () => {
    const guarded = flakyPool({ failures: 2, openMs: 60_000 });
    try {
      await send("tools/list", {}, guarded);
      gate.failNext.set("tools/call", 2);
      expect((await send("tools/call", { name: "lookup", arguments: {} }, guarded)).error?.code).toBe(-32000);
      expect(gate.seen.get("tools/call")).toBe(2);
      // One failure so far, not two: the next request goes through.
      expect((await send("tools/call", { name: "lookup", arguments: {} }, guarded)).result?.content?.[0]?.text).toBe(
        "lookup ran",
      );
    } finally {
      await guarded.close();
    }
  });
});
