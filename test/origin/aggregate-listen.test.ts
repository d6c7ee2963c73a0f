import { EventSourceParserStream } from "eventsource-parser/stream";
import { afterAll, describe, expect, it, vi } from "vitest";
import { Aggregation } from "../../aws/origin/aggregate/aggregation.ts";
import { type ListenTiming, mergedListen } from "../../aws/origin/aggregate/listen.ts";
import { asRequest, type RpcRequest } from "../../aws/origin/aggregate/messages.ts";
import { type AggregateOptions, serveAggregate } from "../../aws/origin/aggregate/serve-aggregate.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { ListenShares } from "../../aws/origin/hosting/listen-shares.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import type { StdioServer } from "../../contract/config/schema.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { modernRequest, testHostOptions } from "./modern-request.ts";

// The merged listen of the aggregated endpoint: one acknowledgement saying what the opened servers honour together,
// sent once every one of them has acknowledged, and a stream that ends after a pause when it lacks a server, so that
// the client listens again and that server gets another chance.

const ACKNOWLEDGED = "notifications/subscriptions/acknowledged";
const TOOLS_CHANGED = "notifications/tools/list_changed";
const WHO = {
  sub: "lena",
  email: "lena@example.com",
  groups: [],
  client_id: "c",
  server: ALL_SERVERS,
  purpose: "mcp",
  jti: "lena",
  exp: 0,
} as unknown as VerifiedAssertion;
const QUICK: Partial<ListenTiming> = { retryLeftOutMs: 600, acknowledgementWaitMs: 300 };

type Message = { id?: unknown; method?: string; params?: Record<string, unknown>; result?: unknown };
type Next = Message | "ended" | "nothing yet";

/** The client's side of a merged listen: its messages one by one, each waited for at most `waitMs`. */
function clientOf(response: Response) {
  const reader = (response.body as ReadableStream<Uint8Array>)
    .pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>)
    .pipeThrough(new EventSourceParserStream())
    .getReader();
  let pending: Promise<ReadableStreamReadResult<{ data: string }>> | undefined;
  const next = async (waitMs: number): Promise<Next> => {
    pending ??= reader.read();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"nothing yet">((resolve) => {
      timer = setTimeout(() => resolve("nothing yet"), waitMs);
    });
    const read = await Promise.race([pending, late]);
    clearTimeout(timer);
    if (read === "nothing yet") return read;
    pending = undefined;
    return read.done ? "ended" : (JSON.parse(read.value.data) as Message);
  };
  /** Messages until one that `matches`, or until the stream ends or stays silent for `waitMs`. */
  const until = async (matches: (next: Next) => boolean, waitMs: number): Promise<Next[]> => {
    const seen: Next[] = [];
    for (let message = await next(waitMs); ; message = await next(waitMs)) {
      seen.push(message);
      if (matches(message) || typeof message === "string") return seen;
    }
  };
  return { next, until, cancel: () => reader.cancel("the client is done") };
}

const isMethod = (method: string) => (next: Next) => typeof next === "object" && next.method === method;

describe("the merged listen's acknowledgement", () => {
  it("is sent once every server has acknowledged, with what they honour together, before what they sent", async () => {
    const first = fakeServer();
    const second = fakeServer();
    const response = await mergedListen(await fakeAggregation({ first, second }), 0, QUICK);
    const client = clientOf(response);
    first.send({ method: ACKNOWLEDGED, params: { notifications: { toolsListChanged: true, resourceSubscriptions: ["a://1"] } } });
    first.send({ method: TOOLS_CHANGED });
    first.send({ method: "notifications/resources/updated", params: { uri: "a://1" } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    second.send({
      method: ACKNOWLEDGED,
      params: { notifications: { promptsListChanged: true, resourceSubscriptions: ["b://1", "a://1"] } },
    });
    const seen = [await client.next(2_000), await client.next(2_000), await client.next(2_000)];
    await client.cancel();
    expect(seen).toEqual([
      {
        jsonrpc: "2.0",
        method: ACKNOWLEDGED,
        params: {
          notifications: { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ["a://1", "b://1"] },
          _meta: { "io.modelcontextprotocol/subscriptionId": 7 },
        },
      },
      { jsonrpc: "2.0", method: TOOLS_CHANGED },
      { jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri: "a://1" } },
    ]);
    await vi.waitFor(() => expect([first.cancelled, second.cancelled]).toEqual([true, true]));
  });

  it("waits only so long for a server that never acknowledges, and the stream then listens again", async () => {
    const first = fakeServer();
    const silent = fakeServer();
    const started = Date.now();
    const client = clientOf(await mergedListen(await fakeAggregation({ first, silent }), 0, QUICK));
    first.send({ method: ACKNOWLEDGED, params: { notifications: { toolsListChanged: true } } });
    const acknowledgement = await client.next(2_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(acknowledgement).toMatchObject({ method: ACKNOWLEDGED, params: { notifications: { toolsListChanged: true } } });
    // What the silent server honours was never said: the stream ends, and the client's next listen asks again.
    expect(await client.until(() => false, 2_000)).toEqual(["ended"]);
    await vi.waitFor(() => expect([first.cancelled, silent.cancelled]).toEqual([true, true]));
  });

  it("leaves out the answer that ends a listen watching nothing, and the stream stays open", async () => {
    const quiet = fakeServer();
    const loud = fakeServer();
    const client = clientOf(await mergedListen(await fakeAggregation({ quiet, loud }), 0, QUICK));
    quiet.send({ method: ACKNOWLEDGED, params: { notifications: {} } });
    quiet.send({ id: 7, result: { resultType: "complete" } });
    quiet.end();
    loud.send({ method: ACKNOWLEDGED, params: { notifications: { toolsListChanged: true } } });
    expect(await client.next(2_000)).toMatchObject({ params: { notifications: { toolsListChanged: true } } });
    // Every permitted server opened and acknowledged: no pause ends it (QUICK's would have by now).
    expect(await client.next(1_500)).toBe("nothing yet");
    loud.send({ method: TOOLS_CHANGED });
    expect(await client.next(2_000)).toMatchObject({ method: TOOLS_CHANGED });
    await client.cancel();
    await vi.waitFor(() => expect(loud.cancelled).toBe(true));
  });

  it("claims nothing and ends after a pause when every server was left out", async () => {
    const aggregation = fakeAggregation({}, ["down"]);
    const client = clientOf(await mergedListen(await aggregation, 0, QUICK));
    expect(await client.next(2_000)).toMatchObject({ method: ACKNOWLEDGED, params: { notifications: {} } });
    expect(await client.until(() => false, 2_000)).toEqual(["ended"]);
  });
});

// Over real stdio upstreams: a per-user child that starts slower than the per-server time limit, and a server whose
// tools never change beside one whose tools do.
const pools: HostPool[] = [];
afterAll(async () => {
  for (const pool of pools) await pool.close();
});

describe("the merged listen over real servers", () => {
  it("ends after a pause when a server was left out, and the next listen carries that server's list changes", async () => {
    const pool = poolOf({
      quick: catalogServer({ name: "quick", tools: [{ name: "a" }], growable: true }),
      slow: catalogServer({ name: "slow", tools: [{ name: "b" }], growable: true, startDelayMs: 3_000 }),
    });
    await callTool(pool, "quick", "a"); // quick is warm; slow is a cold child that starts slower than the limit
    const listen = async () => mergedListen(await realAggregation(pool, ["quick", "slow"], 1_500), 0, { retryLeftOutMs: 2_000 });
    const first = clientOf(await listen());
    expect(await first.next(5_000)).toMatchObject({ params: { notifications: { toolsListChanged: true } } });
    // Slow was left out: the stream ends, where it used to stay open without ever carrying slow's changes.
    expect(await first.until(() => false, 5_000)).toEqual(["ended"]);
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // slow has started by now
    const second = clientOf(await listen());
    expect(await second.next(5_000)).toMatchObject({ method: ACKNOWLEDGED });
    await callTool(pool, "slow", "add_tool");
    const seen = await second.until(isMethod(TOOLS_CHANGED), 5_000);
    // Both servers opened this time: slow's change reaches the client.
    expect(seen.at(-1)).toMatchObject({ method: TOOLS_CHANGED });
    await second.cancel();
  }, 30_000);

  it("acknowledges, through the endpoint, what a growable server honours beside a quiet one", async () => {
    const servers = {
      quiet: catalogServer({ name: "quiet", tools: [{ name: "x" }], quietTools: true }),
      loud: catalogServer({ name: "loud", tools: [{ name: "y" }], growable: true }),
    };
    const pool = poolOf(servers);
    const options: AggregateOptions = {
      servers: Object.keys(servers),
      upstreamTimeoutMs: 15_000,
      keepAliveMs: 0,
      askServer: (server, assertion, request) => serveMcp(pool, server, assertion, request),
      leftOut: () => {},
    };
    const listen = modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } });
    const client = clientOf(await serveAggregate(options, WHO, listen));
    expect(await client.next(15_000)).toMatchObject({ params: { notifications: { toolsListChanged: true } } });
    await callTool(pool, "loud", "add_tool");
    const seen = await client.until(isMethod(TOOLS_CHANGED), 5_000);
    expect(seen.filter((message) => typeof message === "object" && "result" in message)).toEqual([]);
    expect(seen.at(-1)).toMatchObject({ method: TOOLS_CHANGED });
    await client.cancel();
  }, 30_000);

  it("reports a server left out for the user's share of listens in the share's own words", async () => {
    const servers = { quiet: catalogServer({ name: "quiet", tools: [{ name: "x" }] }) };
    const pool = poolOf(servers);
    const listens = new ListenShares(1);
    const leftOut: string[] = [];
    const options: AggregateOptions = {
      servers: Object.keys(servers),
      upstreamTimeoutMs: 15_000,
      keepAliveMs: 0,
      askServer: (server, assertion, request) => serveMcp(pool, server, assertion, request, undefined, { listens }),
      leftOut: (server, method, reason) => leftOut.push(`${server} ${method}: ${reason}`),
    };
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    const listen = () => modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } });
    const first = clientOf(await serveAggregate(options, WHO, listen()));
    expect(await first.next(15_000)).toMatchObject({ params: { notifications: { toolsListChanged: true } } });
    const second = clientOf(await serveAggregate(options, WHO, listen()));
    expect(await second.next(15_000)).toMatchObject({ params: { notifications: {} } });
    expect(leftOut).toEqual([
      'quiet subscriptions/listen: Error: its listen answered 429: too many open subscriptions/listen streams: at most 1 per user on server "quiet" (relay.listensPerUser); close one and listen again',
    ]);
    warned.mockRestore();
    await Promise.all([first.cancel(), second.cancel()]);
  }, 30_000);
});

/** A server's listen stream that the test writes to. */
function fakeServer() {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const server = {
    cancelled: false,
    stream: new ReadableStream<Uint8Array>({
      start: (opened) => {
        controller = opened;
      },
      cancel: () => {
        server.cancelled = true;
      },
    }),
    send: (message: Record<string, unknown>) =>
      controller?.enqueue(
        new TextEncoder().encode(`event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", ...message })}\n\n`),
      ),
    end: () => controller?.close(),
  };
  return server;
}

/** A listen (id 7) for list changes over fake servers; `down` are permitted servers whose listen fails. */
async function fakeAggregation(servers: Record<string, ReturnType<typeof fakeServer>>, down: string[] = []) {
  const request = modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } }, { id: 7 });
  return new Aggregation({
    message: asRequest(await request.clone().json()) as RpcRequest,
    request,
    permitted: [...Object.keys(servers), ...down],
    allServers: [...Object.keys(servers), ...down],
    ask: async (server) => {
      const fake = servers[server];
      if (!fake) return new Response("down", { status: 503 });
      return new Response(fake.stream, { headers: { "content-type": "text/event-stream" } });
    },
    timeoutMs: 1_000,
    report: () => {},
  });
}

function poolOf(servers: Record<string, StdioServer>): HostPool {
  const pool = createHostPool({ servers, idleTimeoutMs: 60_000, maxProcesses: 8, host: testHostOptions, log: () => {} });
  pools.push(pool);
  return pool;
}

/** A listen for tool list changes over real servers, each given `timeoutMs` to open its listen. */
async function realAggregation(pool: HostPool, servers: string[], timeoutMs: number) {
  const request = modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } });
  return new Aggregation({
    message: asRequest(await request.clone().json()) as RpcRequest,
    request,
    permitted: servers,
    allServers: servers,
    ask: (server, request) => serveMcp(pool, server, { ...WHO, server }, request),
    timeoutMs,
    report: () => {},
  });
}

async function callTool(pool: HostPool, server: string, name: string): Promise<void> {
  const response = await serveMcp(pool, server, { ...WHO, server }, modernRequest("tools/call", { name, arguments: {} }));
  await response.text();
}
