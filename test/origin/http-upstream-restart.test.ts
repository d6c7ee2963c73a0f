import { afterAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import type { UpstreamServer } from "../../contract/config/schema.ts";
import { freePort } from "../../local/free-port.ts";
import { launchHttpFixture, type RunningFixture } from "../fixtures/conformance-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";
import { startUpstreamGateway, type UpstreamGateway } from "./upstream-gateway.ts";

// An HTTP upstream that keeps its sessions in memory (the SDKs' default) forgets them when it restarts, and answers
// every later request of an old session 404. The origin must begin a new session then, as the spec has a client do:
// at most one request fails, cleanly, and the next one works. The 2025-11-25 fixture, restarted on the same port.

const CALLER = { sub: "alice", email: "alice@example.com", groups: [], server: "notes", clientId: "c", era: "modern" as const };
let fixture: RunningFixture | undefined;
let pool: HostPool | undefined;
let gateway: UpstreamGateway | undefined;
afterAll(async () => {
  await pool?.close();
  await fixture?.stop();
  gateway?.close();
});

async function ask(on: HostPool, method: string, params: Record<string, unknown> = {}): Promise<unknown> {
  const { host, release } = await on.acquire("notes", CALLER);
  try {
    const [answer] = await messagesOf(await host.fetch(modernRequest(method, params, { id: 9 }), CALLER));
    return answer;
  } finally {
    release();
  }
}
const listTools = (on: HostPool) => ask(on, "tools/list");

describe("an HTTP upstream that restarted and forgot its sessions", () => {
  it("costs at most one clean error: the connection is closed and the next request begins a new session", async () => {
    const port = String(await freePort());
    fixture = await launchHttpFixture("legacy", 20_000, ["--port", port]);
    const server: UpstreamServer = {
      transport: "http",
      url: fixture.url,
      protocol: "streamable-http",
      identity: "none",
      headers: {},
    } as UpstreamServer;
    const lines: string[] = [];
    pool = createHostPool({
      servers: { notes: server },
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: testHostOptions,
      log: (line) => lines.push(line),
    });
    expect(JSON.stringify(await listTools(pool))).toContain('"tools"');

    await fixture.stop();
    fixture = await launchHttpFixture("legacy", 20_000, ["--port", port]);

    // The request that found the session gone is told so (a read is not sent again: its connection is the one closed).
    const first = (await listTools(pool)) as { error?: { code: number; message: string } };
    expect(first.error?.code).toBe(-32000);
    expect(first.error?.message).toContain("no longer knows this connection's session");
    expect(JSON.stringify(await listTools(pool))).toContain('"tools"');
    expect(JSON.stringify(await listTools(pool))).toContain('"tools"');
    expect(lines.some((line) => line.includes("no longer knows this connection's session; closing it"))).toBe(true);
  });

  it("keeps the connection when a 404 is not about the session: a gateway's answer for one route", async () => {
    fixture = fixture ?? (await launchHttpFixture("legacy"));
    // In front of the server: one tool's call answered 404 with the gateway's own page, everything else passed on.
    gateway = await startUpstreamGateway(fixture.url, (body, _request, response) => {
      if (!body.includes('"test_simple_text"')) return false;
      response.writeHead(404, { "content-type": "text/html" }).end("<html><body>404 Not Found</body></html>");
      return true;
    });
    const url = gateway.url;
    const lines: string[] = [];
    const behind = createHostPool({
      servers: {
        notes: { transport: "http", url, protocol: "streamable-http", identity: "none", headers: {} } as UpstreamServer,
      },
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: testHostOptions,
      log: (line) => lines.push(line),
    });
    try {
      expect(JSON.stringify(await listTools(behind))).toContain('"tools"');
      const refused = (await ask(behind, "tools/call", { name: "test_simple_text", arguments: {} })) as {
        error?: { message: string };
      };
      expect(refused.error?.message).toContain("404");
      expect(lines.some((line) => line.includes("closing it"))).toBe(false);
      expect(JSON.stringify(await listTools(behind))).toContain('"tools"');
    } finally {
      await behind.close();
    }
  });
});
