import { afterEach, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { demoServers } from "../../local/system.ts";
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
