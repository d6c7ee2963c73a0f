import { describe, expect, it } from "vitest";
import { createHostPool } from "../../aws/origin/hosting/host-pool.ts";
import { commandLineOf, descendantsOf, isAlive } from "../e2e/process-tree.ts";
import { testHostOptions } from "./modern-request.ts";

// A stdio upstream that never completes its handshake: it reads nothing, answers nothing, and ignores SIGTERM (only
// SIGKILL ends it), as a server stuck at start-up can.
const NEVER_ANSWERS = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);";

/** The live processes started by this test process whose command line carries `marker`. */
const withMarker = (marker: string) => descendantsOf(process.pid).filter((pid) => commandLineOf(pid).includes(marker));

async function spawnedWith(marker: string): Promise<number[]> {
  for (let tries = 0; tries < 200; tries++) {
    const found = withMarker(marker);
    if (found.length > 0) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("the upstream's child never started");
}

describe("stopping the pool while an upstream is still in its handshake", () => {
  // A modern client's start first probes the era on a throwaway process; a 2025-era client's goes straight to
  // `initialize` on the connection's own child. Either is stopped.
  it.each([
    ["the era probe", "modern"],
    ["initialize", "legacy"],
  ] as const)(
    "gives up a start still waiting on %s, leaves no child running, and returns promptly",
    async (_, era) => {
      const marker = `never-answers-${crypto.randomUUID()}`;
      const lines: string[] = [];
      const pool = createHostPool({
        servers: { stuck: { transport: "stdio", command: process.execPath, args: ["-e", NEVER_ANSWERS, marker], env: {} } },
        idleTimeoutMs: 60_000,
        maxProcesses: 10,
        // The handshake's own deadline is far away: stopping must not wait for it.
        host: { ...testHostOptions, connectTimeoutMs: 30_000 },
        log: (line) => lines.push(line),
      });
      const acquiring = pool.acquire("stuck", { sub: "alice", server: "stuck", clientId: "test-client", era });
      acquiring.catch(() => {});
      const children = await spawnedWith(marker);
      const started = Date.now();
      await pool.close();
      const took = Date.now() - started;
      expect(children.filter(isAlive)).toEqual([]);
      expect(withMarker(marker)).toEqual([]);
      expect(took).toBeLessThan(10_000);
      await expect(acquiring).rejects.toThrow('server "stuck" could not be started: the origin is stopping');
      // Not the upstream's fault: its circuit does not count it, and the log says why it went.
      expect(lines.join("\n")).toContain("its start was given up (the origin is stopping)");
    },
    20_000,
  );
});
