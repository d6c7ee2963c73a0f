import { SubscriptionFilterSchema } from "@modelcontextprotocol/core";
import { INVALID_PARAMS } from "@modelcontextprotocol/server";
import { type EventSourceMessage, EventSourceParserStream } from "eventsource-parser/stream";
import { tooManySubscriptions } from "../../../contract/resource-subscriptions.ts";
import type { Aggregation } from "./aggregation.ts";
import { errorAnswer, type Params, type RequestId } from "./messages.ts";
import { uriRouter } from "./route-by-uri.ts";

const ACKNOWLEDGED = "notifications/subscriptions/acknowledged";
const encoder = new TextEncoder();
const sse = (data: string) => encoder.encode(`event: message\ndata: ${data}\n\n`);

export interface ListenTiming {
  /**
   * How long a merged listen that lacks a server (left out when it opened, or never acknowledging) stays open. It then
   * ends, so that the client listens again and that server, a cold child still starting say, gets another chance.
   */
  retryLeftOutMs: number;
  /**
   * How long the one acknowledgement waits for each opened server's own. A server acknowledges as its listen opens,
   * which was within the per-server time limit already: this only bounds one that never does.
   */
  acknowledgementWaitMs: number;
}

export const LISTEN_TIMING: ListenTiming = { retryLeftOutMs: 30_000, acknowledgementWaitMs: 5_000 };

type Events = ReadableStreamDefaultReader<EventSourceMessage>;
type Message = { id?: unknown; method?: unknown; params?: { notifications?: unknown } };

/**
 * `subscriptions/listen` on the aggregated endpoint: one listen per permitted server, merged into one stream, so a
 * list change on any server reaches the client. Resource subscriptions go to the server that serves each URI. The
 * client's stream acknowledges once, with what the opened servers honour together; closing it closes every server's
 * listen, and any watching server's listen ending ends it. Only a stream that listens to every permitted server stays
 * open for good: one lacking a server ends after `timing.retryLeftOutMs`. A listen naming more resources than one
 * may watch is refused before any is routed: routing them holds the origin's one event loop, every user's.
 */
export async function mergedListen(
  aggregation: Aggregation,
  keepAliveMs: number,
  timing: Partial<ListenTiming> = {},
): Promise<Response> {
  const { id, params } = aggregation.message;
  // As each server's endpoint would refuse it, once (sent on, every server refused it and was reported left out).
  if (!SubscriptionFilterSchema.safeParse(params.notifications).success)
    return errorAnswer(200, id, INVALID_PARAMS, "'notifications' is required and must be a valid SubscriptionFilter");
  const refusal = tooManySubscriptions((params.notifications as Params | undefined)?.resourceSubscriptions);
  if (refusal) return errorAnswer(200, id, INVALID_PARAMS, refusal);
  const opened = await openListens(aggregation);
  const merged = new MergedListen({
    readers: [...opened.values()].map((stream) =>
      stream.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader(),
    ),
    subscriptionId: aggregation.message.id,
    everyServer: opened.size === aggregation.permitted.length,
    keepAliveMs,
    timing: { ...LISTEN_TIMING, ...timing },
  });
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => merged.start(controller),
    cancel: (reason) => merged.cancel(reason),
  });
  return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

/** Each permitted server's listen stream; a server that fails or is too slow is left out (and reported). */
async function openListens(aggregation: Aggregation) {
  const params = aggregation.message.params;
  const { resourceSubscriptions, ...rest } = (params.notifications ?? {}) as Params;
  const byServer = await resourceSubscriptionsByServer(aggregation, resourceSubscriptions);
  return aggregation.collect("subscriptions/listen", async (server) => {
    const uris = byServer.get(server);
    const response = await aggregation.forward(server, {
      ...params,
      notifications: { ...rest, ...(uris && { resourceSubscriptions: uris }) },
    });
    if (!response.ok || !response.body) throw new Error(`its listen answered ${response.status}${await errorOf(response)}`);
    return response.body;
  });
}

/** The JSON-RPC error message of a refused listen (the user's share of listens used up, say), for the log and audit. */
async function errorOf(response: Response): Promise<string> {
  const answer = (await response.json().catch(() => undefined)) as { error?: { message?: unknown } } | undefined;
  return typeof answer?.error?.message === "string" ? `: ${answer.error.message}` : "";
}

/** The client's one stream over the opened servers' listens. */
class MergedListen {
  readonly #readers: Events[];
  readonly #subscriptionId: RequestId;
  readonly #everyServer: boolean;
  readonly #keepAliveMs: number;
  readonly #timing: ListenTiming;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** What servers sent before the one acknowledgement went out: it follows the acknowledgement, in order. */
  #held: string[] | undefined = [];
  /** Whether every opened server acknowledged in time, once the one acknowledgement is out. */
  #acknowledged: Promise<boolean> = Promise.resolve(true);
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** The servers' listens are closed or closing. */
  #stopped = false;
  /** The client's stream is closed or cancelled: nothing more is written to it. */
  #closed = false;

  constructor(options: {
    readers: Events[];
    subscriptionId: RequestId;
    everyServer: boolean;
    keepAliveMs: number;
    timing: ListenTiming;
  }) {
    this.#readers = options.readers;
    this.#subscriptionId = options.subscriptionId;
    this.#everyServer = options.everyServer;
    this.#keepAliveMs = options.keepAliveMs;
    this.#timing = options.timing;
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
    if (this.#keepAliveMs > 0)
      this.#keepAlive = setInterval(() => this.#write(encoder.encode(": keep-alive\n\n")), this.#keepAliveMs);
    const relays = this.#readers.map((reader) => {
      let acknowledge: (honoured: Params | undefined) => void = () => {};
      const acknowledged = new Promise<Params | undefined>((resolve) => {
        acknowledge = resolve;
      });
      return { acknowledged, ended: this.#relay(reader, acknowledge) };
    });
    this.#acknowledged = this.#acknowledge(relays.map((relay) => relay.acknowledged));
    void this.#acknowledged.then((everyOne) => this.#retryLater(everyOne && this.#everyServer));
    // A server's listen that was watching and ends (its connection lost, the origin replacing it) ends the merged
    // stream: the client listens again, and that server's changes reach it again. Kept open, its changes would be
    // lost without a word. A server that watches none of what was asked ends its listen at once: that ends nothing.
    void watchedListenEnded(relays.map((relay) => relay.ended)).then(() => this.#close("another server's listen ended"));
  }

  cancel(reason: unknown): Promise<void> {
    this.#closed = true;
    return this.#stop(reason);
  }

  /**
   * Relays one server's listen, and tells `acknowledge` what it honours (undefined: it never said). Says, when the
   * listen ends, whether it was watching anything.
   */
  async #relay(reader: Events, acknowledge: (honoured: Params | undefined) => void): Promise<boolean> {
    let honoured: Params | undefined;
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        const message = parsed(next.value.data);
        if (message?.method === ACKNOWLEDGED) {
          // The client is sent the one merged acknowledgement, never a server's own.
          honoured ??= honouredBy(message);
          acknowledge(honoured);
          continue;
        }
        // A listen that watches nothing answers at once and ends: relayed, that answer would tell the client that
        // its own listen was over, while the other servers' changes still come.
        if (honoured && !watches(honoured) && isAnswer(message)) continue;
        this.#relayed(next.value.data);
      }
      return honoured !== undefined && watches(honoured);
    } finally {
      acknowledge(undefined);
    }
  }

  /** Sends the one acknowledgement once every opened server's is in (or the wait is over), then what was held. */
  async #acknowledge(acknowledgements: Promise<Params | undefined>[]): Promise<boolean> {
    const honoured = await settledWithin(acknowledgements, this.#timing.acknowledgementWaitMs);
    const said = honoured.filter((each): each is Params => each !== undefined);
    const meta = { "io.modelcontextprotocol/subscriptionId": this.#subscriptionId };
    const notifications = union(said);
    this.#write(sse(JSON.stringify({ jsonrpc: "2.0", method: ACKNOWLEDGED, params: { notifications, _meta: meta } })));
    for (const data of this.#held ?? []) this.#write(sse(data));
    this.#held = undefined;
    return said.length === honoured.length;
  }

  /** A stream lacking a server ends after a pause, so that the client listens again and that server is tried again. */
  #retryLater(complete: boolean): void {
    if (complete || this.#stopped) return;
    this.#retry = setTimeout(() => void this.#close("a server was left out: listening again"), this.#timing.retryLeftOutMs);
  }

  #relayed(data: string): void {
    if (this.#held) this.#held.push(data);
    else this.#write(sse(data));
  }

  #write(chunk: Uint8Array): void {
    if (!this.#closed) this.#controller?.enqueue(chunk);
  }

  /** Ends the client's stream, after the acknowledgement (so a stream never ends unexplained) and what was held. */
  async #close(reason: string): Promise<void> {
    if (this.#stopped) return;
    await this.#stop(reason);
    await this.#acknowledged;
    if (this.#closed) return;
    this.#closed = true;
    this.#controller?.close();
  }

  /** Closes every server's listen; a relay whose reader is cancelled ends, and its acknowledgement is no more awaited. */
  async #stop(reason: unknown): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#keepAlive);
    clearTimeout(this.#retry);
    await Promise.all(this.#readers.map((reader) => reader.cancel(reason).catch(() => {})));
  }
}

/** Resolves when a relay says its watching listen ended, or a relay fails. */
function watchedListenEnded(relays: Promise<boolean>[]): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const relay of relays)
      relay.then(
        (watching) => watching && resolve(),
        () => resolve(),
      );
  });
}

/** What each promise gave within `waitMs` (undefined for one that had not). */
async function settledWithin<T>(promises: Promise<T | undefined>[], waitMs: number): Promise<(T | undefined)[]> {
  const results: (T | undefined)[] = promises.map(() => undefined);
  const all = Promise.all(
    promises.map((promise, index) =>
      promise.then((value) => {
        results[index] = value;
      }),
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, waitMs);
  });
  await Promise.race([all, waited]);
  clearTimeout(timer);
  return [...results];
}

/** What the servers honour together: every flag any of them honours, and every URI any of them watches. */
function union(honoured: Params[]): Params {
  const merged: Params = {};
  for (const each of honoured)
    for (const [key, value] of Object.entries(each)) {
      if (Array.isArray(value)) merged[key] = [...new Set([...(Array.isArray(merged[key]) ? merged[key] : []), ...value])];
      else if (value) merged[key] = value;
    }
  return merged;
}

function parsed(data: string): Message | undefined {
  try {
    const message = JSON.parse(data) as unknown;
    return typeof message === "object" && message !== null ? (message as Message) : undefined;
  } catch {
    return undefined;
  }
}

/** What a server's acknowledgement says it honours. */
function honouredBy(acknowledgement: Message): Params {
  const honoured = acknowledgement.params?.notifications;
  return typeof honoured === "object" && honoured !== null ? (honoured as Params) : {};
}

/** Whether a server honours any of the notifications asked for (none: its listen ends at once). */
const watches = (honoured: Params) => Object.keys(honoured).length > 0;

/** A JSON-RPC answer (the end of a listen), not a notification. */
const isAnswer = (message: Message | undefined) => message !== undefined && "id" in message && !("method" in message);

/** Each watched URI to the server that serves it (ambiguous and unknown ones to none), the lists read once. */
async function resourceSubscriptionsByServer(aggregation: Aggregation, uris: unknown): Promise<Map<string, string[]>> {
  const byServer = new Map<string, string[]>();
  if (!Array.isArray(uris) || uris.length === 0) return byServer;
  const route = await uriRouter(aggregation);
  for (const uri of uris.filter((value): value is string => typeof value === "string")) {
    const routed = route(uri);
    if (!routed || !("server" in routed)) continue;
    // Appended in place: a copy of the server's list per URI made the routing quadratic.
    const listed = byServer.get(routed.server);
    if (listed) listed.push(uri);
    else byServer.set(routed.server, [uri]);
  }
  return byServer;
}
