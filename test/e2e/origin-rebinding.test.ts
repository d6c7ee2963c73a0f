import { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { count, signedInCounterSystem } from "./counter-system.ts";

// Once the edge knows a user's origin instance, it binds their assertions to it (the instance then refuses a replay
// from memory). When the balancer moves the user (their instance left and the balancer knows it), the instance the
// request reaches refuses an assertion bound to the other one, 421, and names itself: the edge sends the request
// once more, bound to it, and the client sees no error at all.

/** Longer than the balancer's health-check interval (local/balancer.ts), so a stopped instance is known down. */
const BALANCER_NOTICES_MS = 2500;

let system: Awaited<ReturnType<typeof signedInCounterSystem>>["system"];
let transport: Awaited<ReturnType<typeof signedInCounterSystem>>["transport"];

beforeAll(async () => {
  ({ system, transport } = await signedInCounterSystem());
}, 120_000);
afterAll(async () => {
  await system?.close();
});

describe("a user moved to another origin instance by the balancer", () => {
  it("loses no call: the assertion bound to the old instance is refused by the new one and sent again", async () => {
    const client = new Client({ name: "e2e-rebinding", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(transport());
    expect((await count(client)).value).toBe(1);
    const { value, pid } = await count(client);
    expect(value).toBe(2); // bound to the holder by now
    // The instance whose child counted (under load the sign-in's warm start may have started one on the other too).
    const holder = system.origins.find((origin) => origin.upstreamPids().includes(pid));
    const other = system.origins.find((origin) => origin !== holder);
    const othersBefore = other?.upstreams() ?? 0;
    await holder?.close();
    await new Promise((resolve) => setTimeout(resolve, BALANCER_NOTICES_MS));
    // No error: the first call reaches the other instance, is refused there (421) and sent again, bound to it.
    expect((await count(client)).value).toBe(1);
    expect(other?.upstreams()).toBe(Math.max(othersBefore, 1));
    expect((await count(client)).value).toBe(2);
    await client.close();
  }, 60_000);
});
