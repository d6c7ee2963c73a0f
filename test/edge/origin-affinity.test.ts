import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { AFFINITY_REFRESH_MS } from "../../contract/origin-affinity.ts";
import type { Affinity, OriginAffinity } from "../../durable-objects/origin-affinity.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { originAffinity } from "../../worker/upstream/affinity.ts";
import { testEnv } from "./edge-env.ts";
import { groupsEdge, originSaw } from "./groups-sign-in.ts";

// Each user's stickiness to an origin instance, kept by the edge from the origin's and the balancer's answers.

const answer = (status: number, headers: [string, string][]) => new Response(null, { status, headers });
const fromInstance = (instance: string, status = 200, ticket = `${instance}-ticket`) =>
  answer(status, [
    ["mcp-origin-instance", instance],
    ["set-cookie", "MCP_ORIGIN=x; Path=/"],
    ["set-cookie", `AWSALBAPP-0=${ticket}; Path=/`],
  ]);

describe("origin affinity at the edge", () => {
  it("keeps the balancer's cookie of the instance that answered, and sends only that", async () => {
    const store = originAffinity(testEnv());
    const user = crypto.randomUUID();
    await store.learn(user, undefined, fromInstance("origin-1"));
    expect(await store.current(user)).toEqual({
      instance: "origin-1",
      cookies: "AWSALBAPP-0=origin-1-ticket",
      learnedAt: expect.any(Number),
    });
  });

  it("does not move a user whose instance answers an error itself (its database is down)", async () => {
    const store = originAffinity(testEnv());
    const user = crypto.randomUUID();
    await store.learn(user, undefined, fromInstance("origin-1"));
    const sent = await store.current(user);
    await store.learn(user, sent, fromInstance("origin-1", 503));
    expect((await store.current(user))?.instance).toBe("origin-1");
  });

  it("forgets the instance when the balancer answers for it and it does not answer its health check (it is lost)", async () => {
    // The test origin is a closed port: the health check through the balancer fails too.
    const store = originAffinity(testEnv());
    const user = crypto.randomUUID();
    await store.learn(user, undefined, fromInstance("origin-1"));
    const sent = await store.current(user);
    await store.learn(user, sent, answer(502, []));
    expect(await store.current(user)).toBeUndefined();
  });

  it("keeps a user on an instance that still answers its health check after one broken connection", async () => {
    // The group tests' origin answers every path, /healthz too, naming itself "groups-origin".
    const edge = groupsEdge({});
    const store = originAffinity(testEnv(edge.env));
    const user = crypto.randomUUID();
    await store.learn(user, undefined, fromInstance("groups-origin"));
    const sent = await store.current(user);
    await store.learn(user, sent, answer(502, []));
    expect((await store.current(user))?.instance).toBe("groups-origin");
    // Asked through the balancer with the user's cookies, or it might have reached another instance.
    expect((await originSaw(edge)).filter((seen) => seen.path === "/healthz")).toEqual([
      expect.objectContaining({ cookie: "AWSALBAPP-0=groups-origin-ticket" }),
    ]);
    // The balancer reaching another instance with the user's cookies: theirs is lost, and forgotten for every isolate.
    const lost: Affinity = { instance: "origin-2", cookies: "AWSALBAPP-0=origin-2-ticket", learnedAt: Date.now() };
    await storeAffinity(user, lost);
    await store.learn(user, lost, answer(502, []));
    expect(await stored(user)).toBeUndefined();
  });

  it("does not let a request that raced without cookies move a user already stuck elsewhere", async () => {
    const store = originAffinity(testEnv());
    const user = crypto.randomUUID();
    await store.learn(user, undefined, fromInstance("origin-1"));
    await store.learn(user, undefined, fromInstance("origin-2"));
    expect((await store.current(user))?.instance).toBe("origin-1");
  });
});

// The balancer honours its cookies only for a while after issuing them (the ALB: a day), and issues fresh ones on
// every answer: a user who stays on one instance has the cookies kept for them replaced now and then, or after a
// day the balancer would balance them anew and they would lose their children.

const HOUR = 60 * 60 * 1000;
const affinities = () => (env as unknown as EdgeEnv).ORIGIN_AFFINITY;
const objectOf = (user: string) => affinities().get(affinities().idFromName(user));
const stored = (user: string) =>
  runInDurableObject(objectOf(user), async (_instance, state) => state.storage.kv.get<Affinity>("affinity"));
const storeAffinity = (user: string, affinity: Affinity) =>
  runInDurableObject(objectOf(user), async (_instance, state) => state.storage.kv.put("affinity", affinity));

/** The users' objects, counting how often the edge asks one to settle (each may be a write). */
function countingSettles(): { env: EdgeEnv; settles: () => number } {
  let settles = 0;
  const namespace = {
    idFromName: (name: string) => affinities().idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = affinities().get(id);
      return {
        current: () => stub.current(),
        forget: (instance: string) => stub.forget(instance),
        settle: (...args: Parameters<OriginAffinity["settle"]>) => {
          settles++;
          return stub.settle(...args);
        },
      };
    },
  };
  return { env: testEnv({ ORIGIN_AFFINITY: namespace }), settles: () => settles };
}

describe("origin affinity at the edge, while the user stays on one instance", () => {
  it("replaces cookies older than the refresh interval with the fresh ones of the same instance's answer", async () => {
    const affinity = originAffinity(testEnv());
    const user = crypto.randomUUID();
    const old: Affinity = { instance: "origin-1", cookies: "AWSALBAPP-0=origin-1-ticket", learnedAt: Date.now() - 2 * HOUR };
    await storeAffinity(user, old);
    const before = Date.now();
    await affinity.learn(user, old, fromInstance("origin-1", 200, "fresh"));
    const now = await stored(user);
    expect(now).toEqual({ instance: "origin-1", cookies: "AWSALBAPP-0=fresh", learnedAt: expect.any(Number) });
    expect(now?.learnedAt).toBeGreaterThanOrEqual(before);
    // This isolate sends the fresh ones from now on, without asking the object again.
    expect(await affinity.current(user)).toEqual(now);
  });

  it("does not rewrite cookies younger than the refresh interval (no hop to the object at all)", async () => {
    const { env: counted, settles } = countingSettles();
    const affinity = originAffinity(counted);
    const user = crypto.randomUUID();
    await affinity.learn(user, undefined, fromInstance("origin-1"));
    expect(settles()).toBe(1);
    const first = await stored(user);
    const sent = await affinity.current(user);
    for (let call = 0; call < 5; call++) await affinity.learn(user, sent, fromInstance("origin-1", 200, `fresh-${call}`));
    expect(settles()).toBe(1);
    expect(await stored(user)).toEqual(first);
    // Just under the interval: still nothing; just over it: one write.
    const aged = (ms: number): Affinity => ({ ...(first as Affinity), learnedAt: Date.now() - ms });
    await affinity.learn(user, aged(AFFINITY_REFRESH_MS - 60_000), fromInstance("origin-1", 200, "early"));
    expect(settles()).toBe(1);
    await storeAffinity(user, aged(AFFINITY_REFRESH_MS + 60_000));
    await affinity.learn(user, await stored(user), fromInstance("origin-1", 200, "due"));
    expect(settles()).toBe(2);
    expect((await stored(user))?.cookies).toBe("AWSALBAPP-0=due");
  });

  it("refreshes what older code stored without a date on the next answer", async () => {
    const affinity = originAffinity(testEnv());
    const user = crypto.randomUUID();
    const legacy = { instance: "origin-1", cookies: "AWSALBAPP-0=origin-1-ticket" };
    await storeAffinity(user, legacy);
    const sent = await affinity.current(user);
    expect(sent).toEqual(legacy);
    await affinity.learn(user, sent, fromInstance("origin-1", 200, "fresh"));
    expect(await stored(user)).toEqual({ instance: "origin-1", cookies: "AWSALBAPP-0=fresh", learnedAt: expect.any(Number) });
  });

  it("writes once when several isolates refresh the same old cookies", async () => {
    const user = crypto.randomUUID();
    const old: Affinity = { instance: "origin-1", cookies: "AWSALBAPP-0=origin-1-ticket", learnedAt: Date.now() - 2 * HOUR };
    await storeAffinity(user, old);
    const first = await objectOf(user).settle("origin-1", { instance: "origin-1", cookies: "AWSALBAPP-0=first" }, old.learnedAt);
    const second = await objectOf(user).settle(
      "origin-1",
      { instance: "origin-1", cookies: "AWSALBAPP-0=second" },
      old.learnedAt,
    );
    expect(second).toEqual(first);
    expect(await stored(user)).toEqual(first);
  });

  it("keeps cookies when the same instance's answer carries none (no balancer in front)", async () => {
    const affinity = originAffinity(testEnv());
    const user = crypto.randomUUID();
    const old: Affinity = { instance: "origin-1", cookies: "AWSALBAPP-0=origin-1-ticket", learnedAt: Date.now() - 2 * HOUR };
    await storeAffinity(user, old);
    await affinity.learn(user, old, answer(200, [["mcp-origin-instance", "origin-1"]]));
    expect(await stored(user)).toEqual(old);
  });

  it("lets the tests' variable shorten the refresh interval, never lengthen it", async () => {
    const user = crypto.randomUUID();
    const recent: Affinity = { instance: "origin-1", cookies: "AWSALBAPP-0=origin-1-ticket", learnedAt: Date.now() - 5000 };
    await storeAffinity(user, recent);
    await originAffinity(testEnv({ TEST_ORIGIN_AFFINITY_REFRESH_MS: "1000" })).learn(
      user,
      recent,
      fromInstance("origin-1", 200, "a"),
    );
    expect((await stored(user))?.cookies).toBe("AWSALBAPP-0=a");
    const old: Affinity = { ...recent, learnedAt: Date.now() - 2 * HOUR };
    await storeAffinity(user, old);
    await originAffinity(testEnv({ TEST_ORIGIN_AFFINITY_REFRESH_MS: String(100 * HOUR) })).learn(
      user,
      old,
      fromInstance("origin-1", 200, "b"),
    );
    expect((await stored(user))?.cookies).toBe("AWSALBAPP-0=b");
  });
});
