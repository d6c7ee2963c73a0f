import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AggregateOptions, serveAggregate } from "../../aws/origin/aggregate/serve-aggregate.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import { SUBSCRIBES_IN_FLIGHT } from "../../aws/origin/hosting/subscribe-queue.ts";
import { UpstreamEvents } from "../../aws/origin/hosting/upstream-events.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";
import { MAX_SUBSCRIPTIONS } from "../../contract/resource-subscriptions.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { acknowledgedListen } from "./listen-stream.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// One 2026-07-28 subscriptions/listen may name at most MAX_SUBSCRIPTIONS resources, on the aggregated /mcp (whose
// routing of each URI runs on the origin's one event loop) as on a server's own endpoint (where each URI becomes an
// upstream resources/subscribe); within the bound the subscribes reach a 2025-era upstream a few at a time, and what
// fails is logged once per listen. Over a real stdio upstream (template sh://{id}) that counts the subscribes it is
// working on at once.

const callLog = join(mkdtempSync(join(tmpdir(), "listen-bounds-")), "calls.log");
const servers = {
  subs: catalogServer({ name: "subs", callLog, templateScheme: "sh", subscribable: true, subscribeDelayMs: 10 }),
  other: catalogServer({ name: "other", tools: [{ name: "echo" }] }),
};
const logged: string[] = [];
let pool: HostPool;
let options: AggregateOptions;
beforeAll(() => {
  pool = createHostPool({
    servers,
    idleTimeoutMs: 60_000,
    maxProcesses: 4,
    host: testHostOptions,
    log: (line) => logged.push(line),
  });
  options = {
    servers: Object.keys(servers),
    upstreamTimeoutMs: 15_000,
    keepAliveMs: 0,
    askServer: (server, assertion, request) => serveMcp(pool, server, assertion, request),
    leftOut: () => {},
  };
});
afterAll(() => pool.close());

const WHO = {
  sub: "mallory",
  email: "mallory@example.com",
  groups: [],
  client_id: "c",
  server: ALL_SERVERS,
  purpose: "mcp",
  jti: "mallory",
  exp: 0,
} as unknown as VerifiedAssertion;
const at = (server: string) => ({ ...WHO, server });

const uris = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `sh://${prefix}${index}`);
const listenTo = (resourceSubscriptions: string[]) =>
  modernRequest("subscriptions/listen", { notifications: { resourceSubscriptions } }, { id: 5 });
const callLines = () => (existsSync(callLog) ? readFileSync(callLog, "utf8").split("\n").filter(Boolean) : []);
const subscribed = (prefix: string) => callLines().filter((line) => line.startsWith(`subscribe sh://${prefix}`)).length;

const unsubscribeFailures = (from: number) =>
  logged.slice(from).filter((line) => line.includes("resources/unsubscribe failed upstream"));

const OVER = MAX_SUBSCRIPTIONS + 1;
const refusal = {
  jsonrpc: "2.0",
  id: 5,
  error: {
    code: -32602,
    message: `subscriptions/listen may watch at most ${MAX_SUBSCRIPTIONS} resources, and this one names ${OVER}: list only the resources you need, or spread them over several listens`,
  },
};

describe("a listen naming more resources than one may watch", () => {
  it("is refused on the aggregated /mcp, naming the bound, before any is routed or subscribed", async () => {
    const before = subscribed("a");
    const answer = await messagesOf(await serveAggregate(options, WHO, listenTo(uris("a", OVER))));
    expect(answer).toEqual([refusal]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(subscribed("a")).toBe(before);
  });

  it("is refused on a server's own endpoint before the upstream is asked to watch any", async () => {
    const before = subscribed("d");
    const response = await serveMcp(pool, "subs", at("subs"), listenTo(uris("d", OVER)));
    expect(await messagesOf(response)).toEqual([refusal]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(subscribed("d")).toBe(before);
  });
});

describe("a listen at the bound", () => {
  it("on the aggregated /mcp is acknowledged, and another user's requests are answered while it is routed", async () => {
    const ops = { ...at("other"), sub: "ops", jti: "ops" };
    const echo = () => modernRequest("tools/call", { name: "echo", arguments: { text: "still here" } });
    // Both warm: the probes below start no child, and the listen's routing starts without waiting for one.
    await messagesOf(await serveMcp(pool, "other", ops, echo()));
    await messagesOf(await serveMcp(pool, "subs", at("subs"), modernRequest("tools/list")));
    let routed = false;
    const listening = serveAggregate(options, WHO, listenTo(uris("m", MAX_SUBSCRIPTIONS)))
      .then(acknowledgedListen)
      .finally(() => {
        routed = true;
      });
    const probes: number[] = [];
    while (!routed) {
      const started = Date.now();
      const answer = await messagesOf(await serveMcp(pool, "other", ops, echo()));
      expect(answer[0]?.result).toBeDefined();
      probes.push(Date.now() - started);
    }
    expect(probes.length).toBeGreaterThan(0);
    expect(Math.max(...probes)).toBeLessThan(5_000); // generous: the origin's event loop was not held
    const { acknowledgement, reader } = await listening;
    expect(acknowledgement.params.notifications.resourceSubscriptions).toHaveLength(MAX_SUBSCRIPTIONS);
    await expect.poll(() => subscribed("m"), { timeout: 20_000 }).toBe(MAX_SUBSCRIPTIONS);
    await reader.cancel();
    await expect.poll(() => unsubscribeFailures(0).length, { timeout: 20_000 }).toBe(1); // see the next test
  }, 30_000);

  it("on a server's own endpoint sends the upstream a few subscribes at a time, and logs a failure once per listen", async () => {
    const from = callLines().length;
    const logFrom = logged.length;
    const response = await serveMcp(pool, "subs", at("subs"), listenTo(uris("p", MAX_SUBSCRIPTIONS)));
    const { reader } = await acknowledgedListen(response);
    await expect.poll(() => subscribed("p"), { timeout: 20_000 }).toBe(MAX_SUBSCRIPTIONS);
    const inFlight = callLines()
      .slice(from)
      .filter((line) => line.startsWith("in flight "))
      .map((line) => Number(line.slice("in flight ".length)));
    expect(inFlight).toHaveLength(MAX_SUBSCRIPTIONS);
    expect(Math.max(...inFlight)).toBeLessThanOrEqual(SUBSCRIBES_IN_FLIGHT);
    // The fixture answers no resources/unsubscribe: closing the listen fails each of its 1000, in one log line.
    await reader.cancel();
    const failures = () => unsubscribeFailures(logFrom);
    await expect.poll(() => failures().length, { timeout: 20_000 }).toBe(1);
    expect(failures()[0]).toContain(`for ${MAX_SUBSCRIPTIONS} of ${MAX_SUBSCRIPTIONS} resources`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(failures()).toHaveLength(1);
  }, 40_000);
});

describe("what one connection watches for its users (s23 hunt isolation N7)", () => {
  // A 2025-era client object without resource subscriptions: the bounds are counted whatever the upstream does.
  const quietClient = { getProtocolEra: () => "legacy", getServerCapabilities: () => ({}) };
  const long = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `sh://${prefix}${"x".repeat(990)}${i}`);

  it("bounds one user's listens, then all users' together, in bytes of URIs; closing a listen gives them back", () => {
    const events = new UpstreamEvents(quietClient as never, () => {});
    const first = events.watch(long("a", 1000), "mallory");
    expect(typeof first).toBe("function");
    expect(events.watch(long("b", 100), "mallory")).toMatch(/^your open listens on this server watch as many resources/);
    for (const user of ["u1", "u2", "u3"]) expect(typeof events.watch(long(user, 1000), user)).toBe("function");
    expect(events.watch(long("c", 200), "carol")).toMatch(/^this server's connection watches as many resources as it can/);
    // The same URIs as another's listen cost the connection nothing more.
    expect(typeof events.watch(long("u1", 100), "carol")).toBe("function");
    (first as () => void)();
    expect(typeof events.watch(long("b", 100), "mallory")).toBe("function");
    expect(typeof events.watch(long("c", 100), "carol")).toBe("function");
  });

  it("counts URIs in the bytes an upstream reads, not in characters (s23 review W1)", () => {
    const events = new UpstreamEvents(quietClient as never, () => {});
    const euros = Array.from({ length: 1000 }, (_, i) => `sh://${"€".repeat(350)}${i}`); // 1,058 bytes, 360 characters
    expect(events.watch(euros, "mallory")).toMatch(/^your open listens on this server watch as many resources/);
  });

  it("refuses a listen past the user's share through the server's endpoint with -32602, and the user's next one within it", async () => {
    const held = await acknowledgedListen(await serveMcp(pool, "subs", at("subs"), listenTo(long("e", 1000))));
    try {
      const answer = await serveMcp(pool, "subs", at("subs"), listenTo(long("f", 100)));
      expect(answer.status).toBe(400);
      expect(await messagesOf(answer)).toMatchObject([
        { id: 5, error: { code: -32602, message: expect.stringMatching(/^your open listens/) } },
      ]);
      // On /mcp the server is left out of the merged listen, and the report says why (s23 review W2).
      const leftOut: string[] = [];
      const recording = {
        ...options,
        leftOut: (server: string, _method: string, reason: string) => void leftOut.push(`${server}: ${reason}`),
      };
      const merged = await serveAggregate(recording, WHO, listenTo(long("g", 100)));
      await merged.body?.cancel();
      expect(leftOut).toEqual([expect.stringMatching(/^subs: Error: its listen answered 400: your open listens on this server/)]);
    } finally {
      await held.reader?.cancel();
    }
  });
});
