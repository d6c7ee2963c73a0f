import { describe, expect, it } from "vitest";
import { originAffinity } from "../../worker/upstream/affinity.ts";
import { testEnv } from "./edge-env.ts";

// Each user's stickiness to an origin instance, kept by the edge from the origin's and the balancer's answers.

const answer = (status: number, headers: [string, string][]) => new Response(null, { status, headers });
const fromInstance = (instance: string, status = 200) =>
  answer(status, [
    ["mcp-origin-instance", instance],
    ["set-cookie", "MCP_ORIGIN=x; Path=/"],
    ["set-cookie", `AWSALBAPP-0=${instance}-ticket; Path=/`],
  ]);

describe("origin affinity at the edge", () => {
  it("keeps the balancer's cookie of the instance that answered, and sends only that", async () => {
    const store = originAffinity(testEnv());
    const user = crypto.randomUUID();
    await store.learn(user, undefined, fromInstance("origin-1"));
    expect(await store.current(user)).toEqual({ instance: "origin-1", cookies: "AWSALBAPP-0=origin-1-ticket" });
  });

  it("does not move a user whose instance answers an error itself (its database is down)", async () => {
    const store = originAffinity(testEnv());
    const user = crypto.randomUUID();
    await store.learn(user, undefined, fromInstance("origin-1"));
    const sent = await store.current(user);
    await store.learn(user, sent, fromInstance("origin-1", 503));
    expect((await store.current(user))?.instance).toBe("origin-1");
  });

  it("forgets the instance when the balancer answers for it (the instance is lost)", async () => {
    const store = originAffinity(testEnv());
    const user = crypto.randomUUID();
    await store.learn(user, undefined, fromInstance("origin-1"));
    const sent = await store.current(user);
    await store.learn(user, sent, answer(502, []));
    expect(await store.current(user)).toBeUndefined();
  });

  it("does not let a request that raced without cookies move a user already stuck elsewhere", async () => {
    const store = originAffinity(testEnv());
    const user = crypto.randomUUID();
    await store.learn(user, undefined, fromInstance("origin-1"));
    await store.learn(user, undefined, fromInstance("origin-2"));
    expect((await store.current(user))?.instance).toBe("origin-1");
  });
});
