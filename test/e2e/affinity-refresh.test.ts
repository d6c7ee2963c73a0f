import { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { count, signedInCounterSystem } from "./counter-system.ts";

// The balancer honours its stickiness cookie only for a while after issuing it (the ALB: a day); the edge replaces
// the cookies it keeps for a user with the fresh ones of the same instance's answers once they are older than its
// refresh interval (an hour). Both shortened here to seconds: a user calling across several stickiness durations
// stays on their instance, their stateful child counting on.

/** The local balancer's stickiness duration here (`stickinessMs`, local/balancer.ts). */
const STICKINESS_MS = 4000;
/** The edge's refresh interval here (TEST_ORIGIN_AFFINITY_REFRESH_MS, worker/upstream/affinity.ts). */
const REFRESH_MS = 1000;

let system: Awaited<ReturnType<typeof signedInCounterSystem>>["system"];
let transport: Awaited<ReturnType<typeof signedInCounterSystem>>["transport"];

beforeAll(async () => {
  ({ system, transport } = await signedInCounterSystem({
    affinityTiming: { balancerStickinessMs: STICKINESS_MS, edgeRefreshMs: REFRESH_MS },
  }));
}, 180_000);
afterAll(async () => {
  await system?.close();
});

describe("a user who stays on one origin instance longer than the balancer's stickiness duration", () => {
  it("stays there: the edge refreshes the balancer's cookies before they expire", async () => {
    const client = new Client({ name: "e2e-affinity-refresh", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    // The balancer's duration is this short (else a user would stay without any refresh).
    expect(system.output()).toContain(`[balancer] stickiness cookies honoured for ${STICKINESS_MS} ms after their issue`);
    await client.connect(transport());
    // The first call binds the user (if the sign-in's cookie already expired under a slow start, it moves them once);
    // from then on, every call for three durations is to reach the same child.
    const first = await count(client);
    const holding = system.origins.map((origin) => origin.upstreams());
    const seen: { value: number; pid: number; atMs: number }[] = [];
    const start = Date.now();
    while (Date.now() - start < 3 * STICKINESS_MS) {
      seen.push({ ...(await count(client)), atMs: Date.now() - start });
      await new Promise((resolve) => setTimeout(resolve, REFRESH_MS / 4));
    }
    const calls = JSON.stringify(seen);
    expect(
      seen.map((entry) => entry.value),
      calls,
    ).toEqual(Array.from({ length: seen.length }, (_, index) => first.value + index + 1));
    expect(new Set(seen.map((entry) => entry.pid)), calls).toEqual(new Set([first.pid]));
    expect(system.origins.map((origin) => origin.upstreams())).toEqual(holding);
    await client.close();
  }, 60_000);
});
