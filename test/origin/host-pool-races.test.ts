import { afterEach, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { demoServers } from "../../local/system.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { testHostOptions } from "./modern-request.ts";

// Calls arriving at the same moment on the origin's pool of upstream connections.
const pools: HostPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

const caller = (sub: string) => ({ sub, server: "everything", clientId: "test-client", era: "modern" as const });

describe("a new user's first calls at once", () => {
  it("start one child, and every call gets it", async () => {
    const hosts = createHostPool({
      servers: demoServers(),
      idleTimeoutMs: 60_000,
      maxProcesses: 10,
      host: testHostOptions,
      log: () => {},
    });
    pools.push(hosts);
    const leases = await Promise.all(Array.from({ length: 6 }, () => hosts.acquire("everything", caller("new-user"))));
    expect(new Set(leases.map((lease) => lease.host.pid)).size).toBe(1);
    expect(hosts.size()).toBe(1);
    expect(leases[0]?.host.active).toBe(6);
    for (const lease of leases) lease.release();
    expect(leases[0]?.host.active).toBe(0);
  });
});

describe("a circuit's probe refused by the pool's bound", () => {
  it("gives the probe's turn back, so the next call tries the upstream instead of waiting out another open time", async () => {
    const servers = { ...demoServers(), broken: catalogServer({ name: "broken", crash: true }) };
    const hosts = createHostPool({
      servers,
      idleTimeoutMs: 60_000,
      maxProcesses: 1,
      host: testHostOptions,
      breaker: { failures: 1, openMs: 1_000 },
      log: () => {},
    });
    pools.push(hosts);
    const alice = { sub: "alice", server: "broken", clientId: "test-client", era: "modern" as const };
    await expect(hosts.acquire("broken", alice)).rejects.toThrow(/could not be started/);
    await expect(hosts.acquire("broken", alice)).rejects.toThrow(/stops trying/);
    // The circuit is open for 1 s; meanwhile bob's call takes the one connection the origin may hold.
    const bob = await hosts.acquire("everything", caller("bob"));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // Alice's next call is the circuit's probe, refused by the bound before anything started.
    await expect(hosts.acquire("broken", alice)).rejects.toThrow(/limit of 1 upstream connections/);
    bob.release();
    // Room again: her next call must try the upstream (and fail to start it), not be refused by the circuit.
    await expect(hosts.acquire("broken", alice)).rejects.toThrow(/^server "broken" could not be started/);
  });
});
