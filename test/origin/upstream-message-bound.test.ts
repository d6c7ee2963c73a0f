import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import type { UpstreamServer } from "../../contract/config/schema.ts";
import { launchHttpFixture, type RunningFixture } from "../fixtures/conformance-upstream/launch.ts";
import { type HostileFront, type HostileMode, startHostileFront } from "../fixtures/hostile-upstream/http-front.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// An HTTP upstream that answers without end (a JSON body, one SSE event, an error page, a body whose Content-Type
// lies, a gzip bomb): the origin reads one message up to its bound and no further, and the caller is told why at once.
// The front stops every endless body at 32 MiB, so without the bound these fail without taking the machine's memory.

const LIMIT = 1024 * 1024;
const caller = (sub: string) => ({ sub, server: "hostile", clientId: "c", era: "modern" as const });
let fixture: RunningFixture;
let front: HostileFront;
const lines: string[] = [];

beforeAll(async () => {
  fixture = await launchHttpFixture("dual");
  front = await startHostileFront(fixture.url);
}, 30_000);

afterAll(async () => {
  await front?.close();
  await fixture?.stop();
});

function poolFor(options: { breakerFailures?: number; era?: "legacy" } = {}): HostPool {
  const hostile: UpstreamServer = {
    transport: "http",
    url: front.url,
    protocol: "streamable-http",
    identity: "none",
    headers: {},
  } as never;
  return createHostPool({
    servers: { hostile },
    idleTimeoutMs: 60_000,
    maxProcesses: 4,
    host: { ...testHostOptions, maxMessageBytes: LIMIT },
    breaker: options.breakerFailures ? { failures: options.breakerFailures, openMs: 60_000 } : undefined,
    log: (line) => lines.push(line),
  });
}

async function hostileCall(pool: HostPool, mode: HostileMode, sub = "alice") {
  const { host, release } = await pool.acquire("hostile", caller(sub));
  try {
    const started = Date.now();
    const params = { name: "test_simple_text", arguments: { hostile: mode } };
    const message = (await messagesOf(await host.fetch(modernRequest("tools/call", params), caller(sub)))).at(-1);
    return { message, ms: Date.now() - started };
  } finally {
    release();
  }
}

describe("an HTTP upstream's answer over relay.maxUpstreamMessageMiB", () => {
  it.each<HostileMode>(["json_endless", "sse_endless_event", "error_endless", "ctype_lie", "gzip_bomb"])(
    "%s: read only up to the bound, the caller told -32000 naming the setting at once",
    async (mode) => {
      const pool = poolFor();
      try {
        lines.length = 0;
        const { message, ms } = await hostileCall(pool, mode);
        const error = message?.error as { code: number; message: string } | undefined;
        expect(error?.code).toBe(-32000);
        expect(error?.message).toBe(
          "the upstream server sent a message over the 1 MiB the origin reads (relay.maxUpstreamMessageMiB)",
        );
        expect(ms).toBeLessThan(testHostOptions.requestTimeoutMs);
        expect(lines.join("\n")).toMatch(/hostile.*over the 1 MiB.*; closing the connection/);
        // The next call connects anew and is answered.
        const next = await hostileCall(pool, undefined as never);
        expect(JSON.stringify(next.message?.result)).toContain("Plain text from the conformance upstream.");
      } finally {
        await pool.close();
      }
    },
  );

  it("is counted by the circuit breaker as a failure", async () => {
    const pool = poolFor({ breakerFailures: 1 });
    try {
      await hostileCall(pool, "json_endless");
      await expect(pool.acquire("hostile", caller("alice"))).rejects.toMatchObject({
        status: 503,
        message: expect.stringMatching(/over the 1 MiB/),
      });
    } finally {
      await pool.close();
    }
  });

  it("bounds each event, not the stream: many small events past the bound in all still reach the answer", async () => {
    const pool = poolFor();
    try {
      const { message } = await hostileCall(pool, "sse_many_small_events");
      expect(JSON.stringify(message?.result)).toContain("after the flood");
    } finally {
      await pool.close();
    }
  }, 30_000);

  it("bounds an event of the 2025-era standalone GET stream too, which no request waits on", async () => {
    const pool = createHostPool({
      servers: {
        hostile: { transport: "http", url: front.url, protocol: "streamable-http", identity: "none", headers: {} } as never,
      },
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: { ...testHostOptions, maxMessageBytes: LIMIT },
      log: (line) => lines.push(line),
    });
    front.endlessGet = true;
    lines.length = 0;
    const legacy = { ...caller("carol"), era: "legacy" as const };
    try {
      // The stream opens right after the handshake: the connection is closed as it starts, or soon after.
      const started = await pool.acquire("hostile", legacy).catch((error: Error) => error);
      await expect.poll(() => lines.join("\n"), { timeout: 10_000 }).toMatch(/over the 1 MiB.*closing the connection/);
      if (!(started instanceof Error)) {
        await started.host.closed;
        started.release();
      }
    } finally {
      front.endlessGet = false;
      await pool.close();
    }
  }, 20_000);
});

describe("a stdio child that breaks mid-call", () => {
  const stdioPool = () =>
    createHostPool({
      servers: {
        hostile: {
          transport: "stdio",
          command: process.execPath,
          args: [new URL("../fixtures/hostile-upstream/stdio-front.ts", import.meta.url).pathname],
          env: {},
        } as never,
      },
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: { ...testHostOptions, maxMessageBytes: LIMIT },
      log: (line) => lines.push(line),
    });

  it("writes a line over the bound: the caller is told so, and the log says why the child was stopped", async () => {
    const pool = stdioPool();
    lines.length = 0;
    try {
      const { message } = await hostileCall(pool, "huge_line" as HostileMode);
      expect(message?.error).toEqual({
        code: -32000,
        message: "the upstream server sent a message over the 1 MiB the origin reads (relay.maxUpstreamMessageMiB)",
        data: { upstreamUnanswered: true }, // the origin's own error: audited unavailable
      });
      expect(lines.join("\n")).toMatch(/hostile.*over the 1 MiB.*; stopping it/);
      const next = await hostileCall(pool, undefined as never);
      expect(JSON.stringify(next.message?.result)).toContain("Plain text from the conformance upstream.");
    } finally {
      await pool.close();
    }
  }, 20_000);

  it("exits: the caller is told the connection closed and how the process exited, not that it did not answer in time", async () => {
    const pool = stdioPool();
    try {
      const { message } = await hostileCall(pool, "exit_mid" as HostileMode);
      expect(message?.error).toEqual({
        code: -32000,
        message: "the upstream server closed the connection: its process exited by itself, with code 1",
        data: { upstreamUnanswered: true },
      });
    } finally {
      await pool.close();
    }
  }, 20_000);
});
