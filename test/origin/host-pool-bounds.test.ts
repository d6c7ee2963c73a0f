import { afterEach, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { demoServers } from "../../local/system.ts";
import { isAlive } from "../e2e/process-tree.ts";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { parkedCall, testHostOptions } from "./modern-request.ts";

const pools: HostPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

/** What the pools of a test refused for the bound (server and reason), and what they logged. */
const refusals: string[] = [];
const logged: string[] = [];

function pool(maxProcesses: number, servers: Parameters<typeof createHostPool>[0]["servers"] = demoServers()) {
  refusals.length = 0;
  logged.length = 0;
  const created = createHostPool({
    servers,
    idleTimeoutMs: 60_000,
    maxProcesses,
    host: testHostOptions,
    poolRefused: (server, reason) => void refusals.push(`${server} ${reason}`),
    log: (line) => void logged.push(line),
  });
  pools.push(created);
  return created;
}

const caller = (sub: string, era: "modern" | "legacy" = "modern") => ({
  sub,
  server: "everything",
  clientId: "test-client",
  era,
});
const pidOf = (lease: { host: { pid: number | null } }) => lease.host.pid as number;

/** Waits until a stopped child's process has gone (stopping is asynchronous). */
async function gone(pid: number): Promise<boolean> {
  for (let tries = 0; tries < 200 && isAlive(pid); tries++) await new Promise((resolve) => setTimeout(resolve, 50));
  return !isAlive(pid);
}

describe("stdio hosting: a bound on children, least recently used first out", () => {
  it("stops the least recently used idle child to start a new user's", async () => {
    const hosts = pool(2);
    const alice = await hosts.acquire("everything", caller("alice"));
    const bob = await hosts.acquire("everything", caller("bob"));
    alice.release();
    bob.release();
    // Alice used hers again after Bob: Bob's is now the least recently used.
    const aliceAgain = await hosts.acquire("everything", caller("alice"));
    aliceAgain.release();
    const carol = await hosts.acquire("everything", caller("carol"));
    expect(await gone(pidOf(bob))).toBe(true);
    expect(isAlive(pidOf(alice))).toBe(true);
    expect(hosts.size()).toBe(2);
    carol.release();
  });

  it("never stops a busy child to make room, however long ago it started", async () => {
    const hosts = pool(2);
    const busy = await hosts.acquire("everything", caller("busy-user"));
    const idle = await hosts.acquire("everything", caller("idle-user"));
    idle.release();
    const newcomer = await hosts.acquire("everything", caller("newcomer"));
    expect(await gone(pidOf(idle))).toBe(true);
    expect(isAlive(pidOf(busy))).toBe(true);
    for (const lease of [busy, newcomer]) lease.release();
  });

  it("stops an idle child before one whose user has a call waiting for an answer, though that one was used longer ago", async () => {
    const hosts = pool(2);
    const asking = await hosts.acquire("everything", caller("asking-user"));
    const pending = await parkedCall(asking.host, caller("asking-user"));
    asking.release();
    const idle = await hosts.acquire("everything", caller("idle-user"));
    idle.release();
    const newcomer = await hosts.acquire("everything", caller("newcomer"));
    expect(await gone(pidOf(idle))).toBe(true);
    expect(isAlive(pidOf(asking))).toBe(true);
    expect(await pending.answer()).toHaveProperty("result");
    newcomer.release();
  });

  it("makes room with a waiting call's child when every other child is busy, and that call ends in an error", async () => {
    const hosts = pool(2);
    const asking = await hosts.acquire("everything", caller("asking-user"));
    const pending = await parkedCall(asking.host, caller("asking-user"));
    asking.release();
    const busy = await hosts.acquire("everything", caller("busy-user"));
    const newcomer = await hosts.acquire("everything", caller("newcomer"));
    expect(await gone(pidOf(asking))).toBe(true);
    newcomer.release();
    const retried = await hosts.acquire("everything", caller("asking-user"));
    expect(await pending.answer(retried.host)).toMatchObject({ error: { message: expect.stringMatching(/call again/) } });
    for (const lease of [busy, retried]) lease.release();
  });

  it("starts a user's child again after it was evicted", async () => {
    const hosts = pool(1);
    const first = await hosts.acquire("everything", caller("alice"));
    first.release();
    (await hosts.acquire("everything", caller("bob"))).release();
    const again = await hosts.acquire("everything", caller("alice"));
    expect(pidOf(again)).not.toBe(pidOf(first));
    expect(hosts.size()).toBe(1);
    again.release();
  });
});

describe("stdio hosting: one user's busy connections and the others' (s23 hunt isolation N5)", () => {
  const caller = (sub: string, server: string) => ({ sub, server, clientId: "test-client", era: "modern" as const });
  const fixture = { transport: "stdio" as const, ...stdioFixtureCommand("dual"), env: {} };
  const servers = { a: fixture, b: fixture, c: fixture, d: fixture };

  it("keeps the last quarter of maxProcesses from a user who holds their share busy, for the others", async () => {
    const hosts = pool(8, servers);
    // Bob's and Carol's calls in flight, then Mallory's long calls on every server: six of the eight, all busy.
    const leases = [await hosts.acquire("a", caller("bob", "a")), await hosts.acquire("a", caller("carol", "a"))];
    for (const server of ["a", "b", "c", "d"]) leases.push(await hosts.acquire(server, caller("mallory", server)));
    // Her share is one connection per server (four, a quarter would be two): her 2025-era client's fifth is refused.
    const refused = hosts.acquire("a", { ...caller("mallory", "a"), era: "legacy" as const });
    await expect(refused).rejects.toMatchObject({ status: 503 });
    await expect(refused).rejects.toThrow(
      /you already hold 4 of this origin's 8 upstream connections busy \(stdio.maxProcesses\)/,
    );
    // Dave still gets one.
    leases.push(await hosts.acquire("a", caller("dave", "a")));
    expect(hosts.size()).toBe(7);
    // Counted, and logged for the operator (s24 hunt observability F11); a second refusal within the minute is not
    // logged again, but counted.
    await expect(hosts.acquire("b", { ...caller("mallory", "b"), era: "legacy" as const })).rejects.toMatchObject({
      status: 503,
    });
    expect(refusals).toEqual(["a user_share", "b user_share"]);
    const lines = logged.filter((line) => line.startsWith("refused "));
    expect(lines).toEqual([
      expect.stringMatching(
        /^refused 1 new upstream connection\(s\) .*server "a": a user already holds their share \(4\) of the 8/,
      ),
    ]);
    for (const lease of leases) lease.release();
  });

  it("counts and logs a refusal when every connection is busy (s24 hunt observability F11)", async () => {
    const hosts = pool(2, servers);
    const leases = [await hosts.acquire("a", caller("alice", "a")), await hosts.acquire("a", caller("bob", "a"))];
    await expect(hosts.acquire("b", caller("carol", "b"))).rejects.toThrow(/all of them busy/);
    expect(refusals).toEqual(["b full"]);
    expect(logged.filter((line) => line.startsWith("refused "))).toEqual([
      expect.stringMatching(
        /^refused 1 new upstream connection\(s\) .*server "b": all 2 upstream connections are busy\); raise stdio.maxProcesses/,
      ),
    ]);
    for (const lease of leases) lease.release();
  });

  it("lets one user take what they need while the pool is less than three quarters full, and idle ones never count", async () => {
    const hosts = pool(8, servers);
    const leases: Awaited<ReturnType<HostPool["acquire"]>>[] = [];
    for (const server of ["a", "b", "c", "d"]) leases.push(await hosts.acquire(server, caller("alice", server)));
    for (const lease of leases) lease.release();
    for (const server of ["a", "b"]) leases.push(await hosts.acquire(server, caller("bob", server)));
    // Six of eight in use; Alice's four are idle: her next connection starts.
    leases.push(await hosts.acquire("a", { ...caller("alice", "a"), era: "legacy" as const }));
    expect(hosts.size()).toBe(7);
    for (const lease of leases) lease.release();
  });
});

describe("stdio hosting: one child for both client eras when the upstream speaks only 2025", () => {
  it("lets a 2025-era client use the child its user's modern clients opened to a 2025-only upstream", async () => {
    const hosts = pool(4);
    const modern = await hosts.acquire("everything", caller("alice"));
    expect(modern.host.era).toBe("legacy");
    const legacy = await hosts.acquire("everything", caller("alice", "legacy"));
    expect(legacy.host).toBe(modern.host);
    expect(hosts.size()).toBe(1);
    for (const lease of [modern, legacy]) lease.release();
  });

  it("keeps a separate child for a 2025-era client when the upstream speaks 2026-07-28 too", async () => {
    const fixture = { transport: "stdio" as const, ...stdioFixtureCommand("dual"), env: {} };
    const hosts = pool(4, { everything: fixture });
    const modern = await hosts.acquire("everything", caller("alice"));
    expect(modern.host.era).toBe("modern");
    const legacy = await hosts.acquire("everything", caller("alice", "legacy"));
    expect(legacy.host.era).toBe("legacy");
    expect(pidOf(legacy)).not.toBe(pidOf(modern));
    for (const lease of [modern, legacy]) lease.release();
  });

  it("never gives one user's child to another user of a per-user server", async () => {
    const hosts = pool(4);
    const alice = await hosts.acquire("everything", caller("alice"));
    const bobLegacy = await hosts.acquire("everything", caller("bob", "legacy"));
    expect(pidOf(bobLegacy)).not.toBe(pidOf(alice));
    for (const lease of [alice, bobLegacy]) lease.release();
  });
});
