import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool } from "../../aws/origin/hosting/host-pool.ts";
import { launchHttpFixture, type RunningFixture } from "../fixtures/conformance-upstream/launch.ts";
import { type HostileFront, PROGRESS_FLOOD_MS, startHostileFront } from "../fixtures/hostile-upstream/http-front.ts";
import { modernRequest, testHostOptions } from "./modern-request.ts";

// An upstream flooding log messages during a call whose client asked for them, toward a client that does not read:
// the origin must not queue them without end (the front stops at 32 MiB of them, so a run without the bound stays small).

const caller = { sub: "alice", server: "hostile", clientId: "c", era: "modern" as const };
let fixture: RunningFixture;
let front: HostileFront;

beforeAll(async () => {
  fixture = await launchHttpFixture("dual");
  front = await startHostileFront(fixture.url);
}, 30_000);

afterAll(async () => {
  await front?.close();
  await fixture?.stop();
});

function floodedCall(mode: "log_flood" | "debug_flood", logLevel: string) {
  const lines: string[] = [];
  const pool = createHostPool({
    servers: {
      hostile: { transport: "http", url: front.url, protocol: "streamable-http", identity: "none", headers: {} } as never,
    },
    idleTimeoutMs: 60_000,
    maxProcesses: 2,
    host: { ...testHostOptions, requestTimeoutMs: 3_000 },
    log: (line) => lines.push(line),
  });
  const dropping = () => lines.filter((line) => / slower than the upstream sends | were dropped for that client$/.test(line));
  const run = async () => {
    try {
      const { host, release } = await pool.acquire("hostile", caller);
      const params = { name: "test_simple_text", arguments: { hostile: mode } };
      const response = await host.fetch(modernRequest("tools/call", params, { logLevel }), caller);
      // Not read while the upstream floods and the call times out.
      await delay(5_000);
      const text = await response.text();
      release();
      return text;
    } finally {
      await pool.close();
    }
  };
  return { run, dropping };
}

describe("log messages an upstream floods toward a client that does not read", () => {
  it("are queued up to 4 MiB unread, the rest dropped, logged when it begins and counted when it ends; the call still ends with its error", async () => {
    const { run, dropping } = floodedCall("log_flood", "debug");
    const text = await run();
    expect(text.length).toBeLessThan(5 * 1024 * 1024);
    expect(text).toContain('"level":"error"');
    expect(text).toMatch(/did not answer or report progress for 3 s/);
    expect(dropping()).toEqual([
      expect.stringMatching(/^hostile \[user \w+\]: .*past 4 MiB unread they are dropped$/),
      expect.stringMatching(/^hostile \[user \w+\]: [\d,]+ log and progress messages were dropped for that client$/),
    ]);
  }, 30_000);

  it("below the level the client asked for, are neither sent nor counted as queued", async () => {
    const { run, dropping } = floodedCall("debug_flood", "error");
    const text = await run();
    expect(text).not.toContain('"level":"debug"');
    expect(dropping()).toEqual([]);
  }, 30_000);
});

describe("progress an upstream sends on and on toward a client that does not read", () => {
  it("keeps the call alive only while the client reads it: dropped progress does not reset the call's timeout", async () => {
    const lines: string[] = [];
    const pool = createHostPool({
      servers: {
        hostile: { transport: "http", url: front.url, protocol: "streamable-http", identity: "none", headers: {} } as never,
      },
      idleTimeoutMs: 60_000,
      maxProcesses: 2,
      host: { ...testHostOptions, requestTimeoutMs: 3_000 },
      log: (line) => lines.push(line),
    });
    try {
      const started = Date.now();
      const { host, release } = await pool.acquire("hostile", caller);
      const params = { name: "test_simple_text", arguments: { hostile: "progress_flood" }, _meta: { progressToken: "p-1" } };
      const response = await host.fetch(modernRequest("tools/call", params), caller);
      // Not read while 4 MiB of progress fills (about 4 s), then the call times out 3 s after the first one dropped.
      await delay(9_000);
      const text = await response.text();
      const ended = Date.now() - started;
      release();
      expect(text).toMatch(/did not answer or report progress for 3 s/);
      expect(lines.some((line) => / slower than the upstream sends /.test(line))).toBe(true);
      // Counted as alive by its dropped progress, the call would last until the flood stops and 3 s more.
      expect(ended).toBeLessThan(PROGRESS_FLOOD_MS);
    } finally {
      await pool.close();
    }
  }, 40_000);
});
