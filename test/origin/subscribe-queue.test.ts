import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createHostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import { SUBSCRIBES_IN_FLIGHT, SubscribeQueue } from "../../aws/origin/hosting/subscribe-queue.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { acknowledgedListen } from "./listen-stream.ts";
import { modernRequest, testHostOptions } from "./modern-request.ts";

// A 2025-era upstream is told what to watch one resources/subscribe (or unsubscribe) per URI, a few at a time. On a
// shared server every user's listens go to one upstream: sent in the order they came, one user's listen of a thousand
// URIs kept another user's one URI waiting for all of them (52 s in s23 hunt isolation N3). Users now take turns.

/** A queue whose upstream answers when the test says; what it was sent, in order. */
function scriptedQueue() {
  const sent: string[] = [];
  const answers: Array<(failure?: Error) => void> = [];
  const logged: string[] = [];
  const queue = new SubscribeQueue(
    (uri, on) =>
      new Promise<void>((resolve, reject) => {
        sent.push(`${on ? "subscribe" : "unsubscribe"} ${uri}`);
        answers.push((failure) => (failure ? reject(failure) : resolve()));
      }),
    (line) => logged.push(line),
  );
  /** Answers the oldest unanswered request, and lets the queue send the next. */
  const answerOne = async (failure?: Error) => {
    answers.shift()?.(failure);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { queue, sent, logged, answerOne };
}

const uris = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `r://${prefix}${index}`);

describe("the subscribe queue of a 2025-era upstream", () => {
  it("sends each user's requests in turn, a few at a time", async () => {
    const { queue, sent, answerOne } = scriptedQueue();
    queue.add("mallory", uris("m", 100), true);
    queue.add("bob", ["r://bob"], true);
    expect(sent).toHaveLength(SUBSCRIBES_IN_FLIGHT);
    await answerOne();
    // The first answer frees a place: Bob's turn comes before Mallory's ninth.
    expect(sent.at(-1)).toBe("subscribe r://bob");
    for (let i = 0; i < 120; i++) await answerOne();
    expect(sent).toHaveLength(101);
  });

  it("never sends a URI's unsubscribe before its subscribe: the two drop each other while neither is sent", async () => {
    const { queue, sent, answerOne } = scriptedQueue();
    queue.add("mallory", uris("m", SUBSCRIBES_IN_FLIGHT), true); // fills the places
    queue.add("alice", ["r://shared", "r://a"], true);
    queue.add("bob", ["r://shared"], false); // Bob's turn would come before Alice's second URI
    queue.add("carol", ["r://c"], true);
    queue.add("carol", ["r://c"], false);
    queue.add("carol", ["r://c"], true); // watched again before anything was sent: one subscribe
    for (let i = 0; i < 20; i++) await answerOne();
    expect(sent.slice(SUBSCRIBES_IN_FLIGHT).sort()).toEqual(["subscribe r://a", "subscribe r://c"]);
  });

  it("logs each listen's failures in one line, dropped requests counting as done", async () => {
    const { queue, logged, answerOne } = scriptedQueue();
    queue.add("alice", uris("a", 10), true);
    queue.add("bob", ["r://a9"], false);
    for (let i = 0; i < 9; i++) await answerOne(new Error("Method not found"));
    expect(logged).toEqual(["resources/subscribe failed upstream for 9 of 10 resources: Method not found"]);
  });
});

describe("users in turn on a real shared 2025-era upstream", () => {
  const callLog = join(mkdtempSync(join(tmpdir(), "subscribe-turns-")), "calls.log");
  const spec = catalogServer({ name: "subs", callLog, templateScheme: "sh", subscribable: true, subscribeDelayMs: 5 });
  const pool = createHostPool({
    servers: { subs: { ...spec, sharing: "shared" } },
    idleTimeoutMs: 60_000,
    maxProcesses: 4,
    host: testHostOptions,
    log: () => {},
  });
  afterAll(() => pool.close());
  const who = (sub: string) =>
    ({
      sub,
      email: `${sub}@example.com`,
      groups: [],
      client_id: "c",
      server: "subs",
      purpose: "mcp",
      jti: sub,
      exp: 0,
    }) as unknown as VerifiedAssertion;
  const listen = (sub: string, resourceSubscriptions: string[]) =>
    serveMcp(
      pool,
      "subs",
      who(sub),
      modernRequest("subscriptions/listen", { notifications: { resourceSubscriptions } }, { id: 5 }),
    );
  const subscribes = () =>
    existsSync(callLog)
      ? readFileSync(callLog, "utf8")
          .split("\n")
          .filter((line) => line.startsWith("subscribe "))
      : [];

  it("subscribes another user's one URI among the first, not after one user's thousand", async () => {
    const thousand = uris("m", 1000).map((uri) => uri.replace("r://", "sh://"));
    const mallorys = await acknowledgedListen(await listen("mallory", thousand));
    const bobs = await acknowledgedListen(await listen("bob", ["sh://bob"]));
    try {
      await expect.poll(() => subscribes().includes("subscribe sh://bob"), { timeout: 20_000 }).toBe(true);
      expect(subscribes().indexOf("subscribe sh://bob")).toBeLessThan(100);
      await expect.poll(() => subscribes().length, { timeout: 30_000 }).toBe(1001);
    } finally {
      await mallorys.reader.cancel();
      await bobs.reader.cancel();
    }
  }, 40_000);
});
