import { DurableObject } from "cloudflare:workers";
import {
  type JSONRPCMessage,
  type JSONRPCRequest,
  type Server,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import { outcomeOfAnswer, SESSION_AUDITS_HEADER } from "../contract/answer-outcome.ts";
import { utf8Length } from "../contract/audit-event.ts";
import { fitForQueue, recordAudit, redactedForHolding } from "../worker/audit/record.ts";
import { completedAudit, type RequestAudit } from "../worker/audit/request-audit.ts";
import { edgeConfig } from "../worker/config.ts";
import type { EdgeEnv } from "../worker/env.ts";
import { jsonOrUndefined } from "../worker/http/json-or-undefined.ts";
import {
  answerDirectly,
  CancelledByClient,
  type DirectAnswer,
  isDirectAnswer,
  plainRequest,
} from "../worker/mcp/bridge/direct-answer.ts";
import { StorageEventStore } from "../worker/mcp/bridge/event-store.ts";
import { HELD_AUDIT_CHECK_MS, HeldAudits } from "../worker/mcp/bridge/held-audits.ts";
import { withIncarnationIds } from "../worker/mcp/bridge/incarnation-ids.ts";
import { listenWhileOpen } from "../worker/mcp/bridge/listen-while-open.ts";
import { type OriginLink, originLinkOf } from "../worker/mcp/bridge/origin-exchange.ts";
import { claimsOf, isOwner, type SessionIdentity, type SessionRecord, tokenLapsed } from "../worker/mcp/bridge/session-record.ts";
import { type SessionHttpRequest, toRequest } from "../worker/mcp/bridge/session-request.ts";
import { type Prefetched, sessionServer } from "../worker/mcp/bridge/session-server.ts";
import { SseServerTransport } from "../worker/mcp/bridge/sse-transport.ts";
import {
  GET_STREAM_ID,
  type OpenedStream,
  WATCH_CLOSE,
  WATCH_URL,
  type WatchMessage,
} from "../worker/mcp/bridge/stream-watch.ts";
import { JSON_RPC, jsonRpcError } from "../worker/mcp/json-rpc-error.ts";
import type { Observation } from "../worker/mcp/observe-response.ts";
import {
  answerCancelled,
  type CancelledNotification,
  cancelledRequestId,
  type InitializeMessage,
  idInUse,
  isInitialize,
  isRequest,
  nothingMoreOnStream,
  requestIdsOf,
} from "./session/messages.ts";
import { newRecord } from "./session/new-record.ts";

/** A session nobody used for this long is deleted (its alarm fires); the client then re-initializes. */
const SESSION_IDLE_MS = 24 * 60 * 60 * 1000;
/** What a 2025-11-25 client is told to wait before reconnecting a stream that ended early. */
const RECONNECT_AFTER_MS = 1000;
/** How long an exchange begun on the short way waits for the session server to take it over. */
const PREFETCH_TAKEOVER_MS = 60_000;
/** The idle alarm is pushed back at most this often, not on every request. */
const ALARM_REFRESH_MS = 60 * 60 * 1000;
/** Where a session keeps when it was last used, written at most this often: its idle time is counted from there. */
const LAST_USE_KEY = "usedAt";
const LAST_USE_WRITE_MS = 60_000;
/** A session its user's registry has not heard of for this long has been ended by its own idle alarm. */
const REGISTERED_SESSION_STALE_MS = SESSION_IDLE_MS + ALARM_REFRESH_MS;

interface LiveSession {
  record: SessionRecord;
  server: Server;
  transport: WebStandardStreamableHTTPServerTransport;
  /** The transport's resumption log. */
  events: StorageEventStore;
}

/**
 * One 2025-era MCP client session, keyed by its `Mcp-Session-Id`. The SDK's Streamable HTTP transport and a
 * session server (worker/mcp/bridge/session-server.ts) speak the 2025 protocol to the client; every request
 * leaves for the origin as a stateless 2026-07-28 request. The record in storage is enough to rebuild the
 * session after eviction: the client's `initialize` is replayed to a fresh server. The resumption log is in
 * storage too, so a client reconnecting with `Last-Event-ID` after an eviction gets what it missed.
 */
export class McpSession extends DurableObject<EdgeEnv> {
  #live?: LiveSession;
  /** The caller of the request being served: same user as the record, with their current groups. */
  #caller?: SessionIdentity;
  #listening?: AbortController;
  /** A 2024-11-05 HTTP+SSE session: its stream, and its server once the client initialized. */
  #sse?: { transport: SseServerTransport; caller: SessionIdentity; server?: Server };
  /** When the idle alarm was last pushed back and the registry told of a use (at most hourly). */
  #usedNotedAt = 0;
  /** When the session was last used, and when that was last written to storage (at most once a minute). */
  #lastUse = 0;
  #lastUseWritten = 0;
  /** The subscriptions the latest GET stream was opened with, as JSON. */
  #openedWith?: string;
  /** Requests the session server works on, by id, until their answer is sent. */
  #open = new Set<string | number>();
  /** Requests on the short way, by id, waiting for the origin (a cancellation aborts them). */
  #direct = new Map<string | number, AbortController>();
  /** Exchanges begun on the short way that the session server takes over, by request id. */
  #prefetched = new Map<string | number, { exchange: Prefetched; expiry: ReturnType<typeof setTimeout> }>();
  /** A 2024-11-05 session's audits, kept until their answers are sent. */
  #held = new HeldAudits(this.ctx.storage);
  /** Held audits their own requests are recording now (answered, on their way to the queue): not the alarm's. */
  #recording = new Set<string>();
  /**
   * A 2025-era session's requests the session server answers (over SSE), by id: each takes its answer once the
   * transport sends it, for the audit, or undefined when the request was given up (the session ended).
   */
  #answering = new Map<string | number, (answer: SentAnswer | undefined) => void>();
  /** Requests of a 2025-era session the session server answers with its own failure (see auditAtAnswer), by id. */
  #unavailable = new Set<string | number>();

  /**
   * Serves one HTTP request of the session: a plain request's answer as data (the short way), anything else as the
   * SDK transport's response. The Worker has read a POST's body already; it is parsed here once. Another user's, or
   * an unknown or ended session, gets 404.
   */
  async serve(
    http: SessionHttpRequest,
    caller: SessionIdentity,
    sessionId: string,
    /** A POST's audit facts: a request the session server answers is audited here, at its answer (auditAtAnswer). */
    audit?: RequestAudit,
  ): Promise<Response | DirectAnswer> {
    const origin = this.origin();
    const body = http.body === undefined ? undefined : jsonOrUndefined(http.body);
    if (isInitialize(body)) return this.begin(origin, toRequest(http, body), body, caller, sessionId);

    const live = this.#live ?? (await this.rebuild(origin));
    if (!live || !isOwner(live.record.identity, caller)) {
      return jsonRpcError(404, undefined, JSON_RPC.sessionNotFound, "Session not found: initialize a new session");
    }
    this.#caller = caller;
    this.keepAlive(caller.sub, sessionId);
    const cancelled = cancelledRequestId(body);
    if (cancelled !== undefined)
      this.#direct.get(cancelled)?.abort(new CancelledByClient((body as CancelledNotification).params?.reason));
    const ids = requestIdsOf(body);
    const reused = this.reusedId(ids);
    if (reused !== undefined) return idInUse(reused);
    const plain = plainRequest(http.method, new Headers(http.headers), body);
    if (plain) {
      const answered = await this.answerDirectly(origin, live.record, plain);
      if (answered) return answered;
    }
    // A GET here resumes a POST's stream (Last-Event-ID): the GET stream itself is the Worker's (openStream).
    const resumedAfter = http.method === "GET" ? new Headers(http.headers).get("last-event-id") : null;
    // Nothing of the session still worked on, nothing logged after the event: the stream can bring nothing more.
    if (resumedAfter && this.#open.size === 0 && !live.events.hasMoreAfter(resumedAfter)) return nothingMoreOnStream();
    const request = toRequest(http, body);
    for (const id of ids) this.#open.add(id);
    // One request (not a batch, whose answers the Worker reads together): its answer is awaited from now on.
    const single = audit && !Array.isArray(body) && ids.length === 1 ? ids[0] : undefined;
    const answer = single === undefined ? undefined : this.answerOf(single);
    const response = await live.transport.handleRequest(request, body === undefined ? undefined : { parsedBody: body });
    if (!response.ok) {
      // Refused by the transport: nothing of these requests goes on, and their ids are free again.
      for (const id of ids) {
        this.#open.delete(id);
        this.takePrefetched(id)?.abort("the request was refused");
        this.#answering.delete(id);
      }
    }
    if (request.method === "DELETE" && response.ok) await this.end();
    if (cancelled !== undefined) await answerCancelled(live.transport, cancelled);
    if (!response.ok || !answer || !audit) return response;
    this.auditAtAnswer(audit, answer);
    const headers = new Headers(response.headers);
    headers.set(SESSION_AUDITS_HEADER, "1");
    return new Response(response.body, { status: response.status, headers });
  }

  /** The answer the transport sends to request `id`, or undefined if the request is given up first. */
  private answerOf(id: string | number): Promise<SentAnswer | undefined> {
    this.#answering.get(id)?.(undefined);
    return new Promise((resolve) => this.#answering.set(id, resolve));
  }

  /**
   * Audits a 2025-era request by the answer the session object sends, not by the client's stream: a stream that breaks
   * is no cancellation in a 2025 session (the client resumes it with Last-Event-ID, and the request goes on), so its
   * answer is the request's outcome. A request given up without one (the session ended) is cancelled. The audit is held
   * in storage meanwhile, as a 2024-11-05 session's are: after a restart the alarm records it without an answer.
   */
  private auditAtAnswer(audit: RequestAudit, answer: Promise<SentAnswer | undefined>): void {
    const held = this.#held.hold(fitForQueue(redactedForHolding(audit, this.env)));
    this.#recording.add(held.id);
    // The session's own failure answers (origin unreachable, its answer broken off) are `unavailable`, as for a
    // 2026-07-28 client, not `error` under the -32000 an upstream's own errors carry too.
    const observed = ({ message, unavailable }: SentAnswer): Observation =>
      unavailable ? { ...observationOf(message), outcome: "unavailable" } : observationOf(message);
    const outcome = answer.then((sent) => completedAudit(audit, 200, sent ? observed(sent) : GIVEN_UP));
    const recording = {
      waitUntil: (sent: Promise<unknown>) => this.ctx.waitUntil(sent.finally(() => this.#recording.delete(held.id))),
    };
    recordAudit(this.env, recording, outcome, { id: held.id, queued: () => this.#held.release(held) });
  }

  /**
   * The client opens its GET stream, or resumes it after `lastEventId`: the Worker invocation that holds the stream
   * gets the record and the events the client missed (bridge/stream-watch.ts). Another user's, or an unknown or ended
   * session, gets 404.
   */
  async openStream(caller: SessionIdentity, sessionId: string, lastEventId?: string): Promise<OpenedStream | Response> {
    const record = this.#live?.record ?? this.ctx.storage.kv.get<SessionRecord>("record");
    if (!record || record.sessionId !== sessionId || !isOwner(record.identity, caller)) {
      return jsonRpcError(404, undefined, JSON_RPC.sessionNotFound, "Session not found: initialize a new session");
    }
    this.keepAlive(caller.sub, sessionId);
    this.#openedWith = JSON.stringify(record.subscriptions);
    const replay: OpenedStream["replay"] = [];
    if (lastEventId) {
      await this.events().replayEventsAfter(lastEventId, {
        send: async (id, message) => void replay.push({ id, message }),
      });
    }
    return { record, replay, announce: lastEventId !== undefined };
  }

  /**
   * Logs a notification the Worker is about to write on the GET stream; returns its event id, or undefined once the
   * session has ended (nothing is stored for a session that is gone: the stream ends instead).
   */
  async logStreamEvent(message: JSONRPCMessage): Promise<string | undefined> {
    if (!this.#hasRecord()) return undefined;
    return this.events().storeEvent(GET_STREAM_ID, message);
  }

  /**
   * The WebSocket of the Worker invocation that holds the GET stream. Accepted for hibernation: the object may
   * leave memory while the stream stays open, and wakes only to say that something changed. One stream per
   * session: a client opens a new one when it believes the old one dead, and the old one is closed.
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.url !== WATCH_URL || request.headers.get("upgrade") !== "websocket") return new Response(null, { status: 404 });
    // Ended between the stream's opening and this watch (a DELETE in between): nothing to watch.
    if (!this.#hasRecord()) return new Response(null, { status: 404 });
    for (const older of this.ctx.getWebSockets()) older.close(WATCH_CLOSE.replaced.code, WATCH_CLOSE.replaced.reason);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    // Subscriptions changed between the stream's opening and this watch reached only the stream it replaced.
    const subscriptions = (this.#live?.record ?? this.ctx.storage.kv.get<SessionRecord>("record"))?.subscriptions ?? [];
    if (this.#openedWith !== undefined && JSON.stringify(subscriptions) !== this.#openedWith)
      server.send(JSON.stringify({ subscriptions } satisfies WatchMessage));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketClose(socket: WebSocket): Promise<void> {
    try {
      socket.close();
    } catch {
      // Already closed: the runtime answered the close itself.
    }
  }

  /**
   * Opens a 2024-11-05 HTTP+SSE session: the stream every message of the session travels on. Its first event names
   * `postUrl`, where the client POSTs its messages. The session lives as long as the stream.
   */
  async openSse(caller: SessionIdentity, sessionId: string, postUrl: string): Promise<Response> {
    const transport = withIncarnationIds(new SseServerTransport(sessionId, postUrl));
    this.#sse = { transport, caller };
    transport.onclose = () => {
      if (this.#sse?.transport !== transport) return;
      this.#listening?.abort();
      this.#listening = undefined;
      this.#sse = undefined;
      void this.tellRegistry(caller.sub, "forget", sessionId);
    };
    await this.register(caller, sessionId);
    return transport.response;
  }

  /**
   * A message POSTed to a 2024-11-05 session; its answer travels on the session's stream (202 here). A request is
   * audited here once its answer has been sent: the Worker's invocation ends with the 202. Its audit is held in
   * storage meanwhile (HeldAudits), so that a restart of this object does not lose it. One whose answer cannot be
   * awaited (its id is in flight already) is left to the Worker, which audits it at the 202.
   */
  async postSse(message: Record<string, unknown>, caller: SessionIdentity, audit: RequestAudit): Promise<Response> {
    const sse = this.#sse;
    if (!sse || !isOwner(sse.caller, caller)) {
      return jsonRpcError(404, undefined, JSON_RPC.sessionNotFound, "Session not found: open a new SSE stream");
    }
    this.#caller = caller;
    // Its alarm is the held audits' (below): only the registry hears of the use.
    this.noteUse(caller.sub, sse.transport.sessionId);
    if (!sse.server) {
      if (!isInitialize(message)) return jsonRpcError(400, undefined, JSON_RPC.invalidRequest, "initialize first");
      const origin = this.origin();
      const record = await newRecord(origin, caller, sse.transport.sessionId, message);
      if (record instanceof Response) return record;
      const live = { record } as Pick<LiveSession, "record" | "server">;
      // The stream is the session: it is not stored, and it listens from the start.
      live.server = this.serverFor(origin, live, { persist: false, listenAlways: true });
      await live.server.connect(sse.transport);
      sse.server = live.server;
      this.startListening(origin, live);
    }
    const held = isRequest(message) ? this.#held.hold(fitForQueue(redactedForHolding(audit, this.env))) : undefined;
    const answered = isRequest(message) ? sse.transport.answerTo(message.id) : undefined;
    sse.transport.receive(message as never);
    // Received first: the server has stopped the request's work, so the answer cannot follow this one.
    const cancelled = cancelledRequestId(message);
    if (cancelled !== undefined) await sse.transport.answerCancelled(cancelled);
    if (!held || !answered) {
      if (held) this.#held.release(held); // left to the Worker
      return new Response(null, { status: 202 });
    }
    void this.ctx.storage.setAlarm(Date.now() + HELD_AUDIT_CHECK_MS);
    const outcome = answered.then((answer) => completedAudit(audit, 202, observationOf(answer)));
    this.#recording.add(held.id);
    const recording = {
      waitUntil: (sent: Promise<unknown>) => this.ctx.waitUntil(sent.finally(() => this.#recording.delete(held.id))),
    };
    recordAudit(this.env, recording, outcome, { id: held.id, queued: () => this.#held.release(held) });
    return new Response(null, { status: 202, headers: { [SESSION_AUDITS_HEADER]: "1" } });
  }

  /**
   * The short way for a plain request (worker/mcp/bridge/direct-answer.ts): the client's JSON answer, or undefined
   * once the exchange begun is left for the session server to take over.
   */
  private async answerDirectly(
    origin: OriginLink,
    record: SessionRecord,
    request: JSONRPCRequest,
  ): Promise<DirectAnswer | undefined> {
    const controller = new AbortController();
    this.#direct.set(request.id, controller);
    try {
      const answered = await answerDirectly(origin, record, claimsOf(this.#caller ?? record.identity), request, controller);
      if (isDirectAnswer(answered)) return answered;
      // Taken at once by the session server; if the transport refused the request instead, nothing must dangle.
      const expiry = setTimeout(() => {
        if (this.#prefetched.get(request.id)?.exchange !== answered) return;
        this.#prefetched.delete(request.id);
        answered.abort("the request was not taken over");
      }, PREFETCH_TAKEOVER_MS);
      this.#prefetched.set(request.id, { exchange: answered, expiry });
      return undefined;
    } finally {
      this.#direct.delete(request.id);
    }
  }

  /**
   * The first of `ids` that an unanswered request of this session holds already (or that the body names twice): the
   * session keys answers, progress and cancellations by id, so a second request under it would take the first one's
   * (its cancellation would stop neither).
   */
  private reusedId(ids: (string | number)[]): string | number | undefined {
    const seen = new Set<string | number>();
    for (const id of ids) {
      if (seen.has(id) || this.#open.has(id) || this.#direct.has(id) || this.#prefetched.has(id)) return id;
      seen.add(id);
    }
    return undefined;
  }

  /** The exchange begun on the short way for request `id`, taken off the waiting list (to take it over, or give it up). */
  private takePrefetched(id: string | number): Prefetched | undefined {
    const prefetched = this.#prefetched.get(id);
    this.#prefetched.delete(id);
    // A pending timer would keep the object in memory (billed) for a minute after the call.
    clearTimeout(prefetched?.expiry);
    return prefetched?.exchange;
  }

  /** How this object reaches the origin. */
  private origin(): OriginLink {
    return originLinkOf(this.env);
  }

  /**
   * The idle alarm: the session is over. On a 2024-11-05 session's object it looks for audits held past a restart
   * instead: a live stream's answers are still to come (it looks again later); after a restart, each is recorded as a
   * request that ended without an answer.
   */
  override async alarm(): Promise<void> {
    if (this.#sse) {
      if (this.#held.any) void this.ctx.storage.setAlarm(Date.now() + HELD_AUDIT_CHECK_MS);
      return;
    }
    const recorded: Promise<unknown>[] = [];
    const waitUntil = (sent: Promise<unknown>) => void recorded.push(sent);
    for (const held of this.#held.all()) {
      // Its request's answer was sent and its event is on the way: recorded "without an answer" too, under the same
      // id, whichever reached the origin first would stay.
      if (this.#recording.has(held.id)) continue;
      try {
        const lost = completedAudit(held.audit, 202, observationOf(undefined));
        recordAudit(this.env, { waitUntil }, lost, { id: held.id, queued: () => this.#held.release(held) });
      } catch (error) {
        // An alarm that throws is retried a few times and then dropped, leaving the object's storage for good.
        console.error(`a held audit could not be recorded and was dropped: ${String(error)}`);
        this.#held.release(held);
      }
    }
    await Promise.all(recorded);
    // One that could not be queued is kept for the next alarm.
    if (this.#held.any) {
      void this.ctx.storage.setAlarm(Date.now() + HELD_AUDIT_CHECK_MS);
      return;
    }
    if (this.idleUntilLater()) return;
    await this.end();
  }

  /**
   * The alarm is pushed back at most hourly: a session used since it was set is idle only 24 h after that last use,
   * and the alarm is set again for then. True when it was.
   */
  private idleUntilLater(): boolean {
    const lastUse = Math.max(this.#lastUse, this.ctx.storage.kv.get<number>(LAST_USE_KEY) ?? 0);
    const idleAt = lastUse + SESSION_IDLE_MS;
    if (idleAt <= Date.now()) return false;
    void this.ctx.storage.setAlarm(idleAt);
    return true;
  }

  private async begin(
    origin: OriginLink,
    request: Request,
    body: InitializeMessage,
    caller: SessionIdentity,
    sessionId: string,
  ): Promise<Response> {
    const record = await newRecord(origin, caller, sessionId, body);
    if (record instanceof Response) return record;
    this.#caller = caller;
    const live = await this.assemble(origin, record);
    const response = await live.transport.handleRequest(request, { parsedBody: body });
    if (response.ok) {
      this.ctx.storage.kv.put("record", record);
      this.#live = live;
      this.keepAlive(caller.sub, sessionId);
      await this.register(caller, sessionId);
    }
    return response;
  }

  /**
   * Rebuilds the session after eviction from its stored record, by replaying the client's handshake. A record that
   * cannot be taken up again (one another release wrote, say) ends the session: its client, told that the session is
   * not found, initializes a new one, where it would otherwise be refused as uninitialized on every request.
   */
  private async rebuild(origin: OriginLink): Promise<LiveSession | undefined> {
    const record = this.ctx.storage.kv.get<SessionRecord>("record");
    if (!record) return undefined;
    let live: LiveSession | undefined;
    try {
      live = await this.assemble(origin, record);
      const transport = live.transport;
      const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
      const replay = async (message: Record<string, unknown>, extra: Record<string, string> = {}) => {
        const body = JSON.stringify(message);
        const request = new Request("https://session.internal/", { method: "POST", headers: { ...headers, ...extra }, body });
        const response = await transport.handleRequest(request);
        await response.body?.cancel();
        if (!response.ok) throw new Error(`its stored ${String(message.method)} was refused (${response.status})`);
      };
      await replay({ jsonrpc: "2.0", id: "rebuild", method: "initialize", params: record.initialize });
      await replay({ jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": record.sessionId });
      this.#live = live;
      return live;
    } catch (error) {
      console.error(`a session of server ${record.identity?.server} could not be rebuilt and is ended: ${String(error)}`);
      await live?.server.close().catch(() => {});
      await this.end();
      return undefined;
    }
  }

  private async assemble(origin: OriginLink, record: SessionRecord): Promise<LiveSession> {
    const events = this.events();
    const transport = withIncarnationIds(
      new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => record.sessionId,
        eventStore: events,
        // 2025-11-25 clients reconnect after this long when a stream ends early (SSE polling).
        retryInterval: RECONNECT_AFTER_MS,
      }),
    );
    // An answer sent ends its request's work: what resuming a stream can still bring depends on what is open.
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
      if (!("method" in message) && "id" in message && message.id !== undefined) {
        this.#open.delete(message.id);
        const unavailable = this.#unavailable.delete(message.id);
        this.#answering.get(message.id)?.({ message, unavailable });
        this.#answering.delete(message.id);
      }
      return send(message, options);
    };
    const live = { record, transport, events } as LiveSession;
    live.server = this.serverFor(origin, live, { persist: true, listenAlways: false });
    await live.server.connect(transport);
    return live;
  }

  /**
   * The session server for a session: its record lives in `live` (and in storage when `persist`); a change of
   * resource subscriptions re-opens the origin's listen stream (at once when `listenAlways`, else if one is open).
   */
  private serverFor(
    origin: OriginLink,
    live: Pick<LiveSession, "record" | "server">,
    options: { persist: boolean; listenAlways: boolean },
  ): Server {
    return sessionServer({
      origin,
      record: () => live.record,
      claims: () => claimsOf(this.#caller ?? live.record.identity),
      save: (changed) => {
        live.record = changed;
        if (options.persist) this.ctx.storage.kv.put("record", changed);
      },
      prefetched: (id) => this.takePrefetched(id),
      // Only a 2025-era session's answers are audited by what the transport sends (auditAtAnswer).
      unavailable: options.persist ? (id) => void this.#unavailable.add(id) : undefined,
      subscriptionsChanged: () => {
        if (!options.listenAlways) return this.tellWatchers({ subscriptions: live.record.subscriptions });
        this.startListening(origin, live);
      },
    });
  }

  /** Tells every watching stream; one closing (replaced by a newer GET) cannot keep the others from hearing. */
  private tellWatchers(message: WatchMessage): void {
    for (const socket of this.ctx.getWebSockets()) {
      try {
        socket.send(JSON.stringify(message));
      } catch {
        // Closing: the runtime still lists it until the close is answered.
      }
    }
  }

  private events(): StorageEventStore {
    return new StorageEventStore(this.ctx.storage.kv);
  }

  /**
   * A 2024-11-05 session listens at the origin while its stream lives (bridge/listen-while-open.ts). A listen for
   * changed subscriptions starts before the one it replaces stops (on acknowledgement): nothing falls between the two.
   */
  private startListening(origin: OriginLink, live: Pick<LiveSession, "record" | "server">): void {
    const previous = this.#listening;
    const controller = new AbortController();
    this.#listening = controller;
    listenWhileOpen({
      origin,
      record: () => live.record,
      claims: () => claimsOf(this.#caller ?? live.record.identity),
      signal: controller.signal,
      deliver: (notification) => live.server.notification(notification as never),
      acknowledged: () => previous?.abort(),
      lapsed: () => tokenLapsed(this.#caller),
    })
      .then((ended) => {
        // Its client opens a new stream, with a fresh token: the session lives no longer than its caller's credentials.
        if (ended === "lapsed") void this.#sse?.transport.close();
      })
      .finally(() => {
        previous?.abort();
        if (this.#listening === controller) this.#listening = undefined;
      });
  }

  /**
   * Remembers the use (in storage at most once a minute, for the alarm to find after an eviction), pushes the idle
   * alarm back and tells the user's registry the session is in use (at most hourly, both).
   */
  private keepAlive(sub: string, sessionId: string): void {
    this.#lastUse = Date.now();
    if (this.#lastUse - this.#lastUseWritten >= LAST_USE_WRITE_MS) {
      this.#lastUseWritten = this.#lastUse;
      this.ctx.storage.kv.put(LAST_USE_KEY, this.#lastUse);
    }
    if (!this.noteUse(sub, sessionId)) return;
    void this.ctx.storage.setAlarm(Date.now() + SESSION_IDLE_MS);
  }

  /** Tells the user's registry the session is in use, at most hourly; true when it did. */
  private noteUse(sub: string, sessionId: string): boolean {
    const now = Date.now();
    if (now - this.#usedNotedAt < ALARM_REFRESH_MS) return false;
    this.#usedNotedAt = now;
    void this.tellRegistry(sub, "touch", sessionId);
    return true;
  }

  /**
   * Counts a new session among its user's (durable-objects/user-sessions.ts) and ends the least recently used ones past
   * `sessionsPerUser`. The registry being unreachable costs the bound, never the session.
   */
  private async register(caller: SessionIdentity, sessionId: string): Promise<void> {
    try {
      const limit = edgeConfig(this.env).sessionsPerUser;
      const registry = this.userSessions(caller.sub);
      const evicted = await registry.admit(sessionId, caller.clientId, limit, REGISTERED_SESSION_STALE_MS);
      const ends = evicted.map((id) => this.env.MCP_SESSION.get(this.env.MCP_SESSION.idFromName(id)).evict());
      for (const ended of await Promise.allSettled(ends))
        if (ended.status === "rejected")
          console.error(`a session past its user's limit could not be ended: ${String(ended.reason)}`);
    } catch (error) {
      console.error(`a new session could not be counted among its user's: ${String(error)}`);
    }
  }

  private userSessions(sub: string) {
    return this.env.USER_SESSIONS.get(this.env.USER_SESSIONS.idFromName(sub));
  }

  /** Tells the user's registry that a session was used or ended, in the background: missing it costs only the bound. */
  private tellRegistry(sub: string, what: "touch" | "forget", sessionId: string): Promise<void> {
    return this.userSessions(sub)
      [what](sessionId)
      .catch((error: unknown) => console.error(`a session's ${what} did not reach its user's registry: ${String(error)}`));
  }

  /** Ends the session because its user began more than `sessionsPerUser` (their registry chose this one). */
  async evict(): Promise<void> {
    if (this.#sse) return this.#sse.transport.close();
    // Audits held past a restart are the alarm's to record before the storage goes (alarm()); the requests this
    // object still works on are recorded as given up by end().
    if (this.#held.all().some((held) => !this.#recording.has(held.id))) return;
    await this.end();
  }

  #hasRecord(): boolean {
    return this.#live !== undefined || this.ctx.storage.kv.get("record") !== undefined;
  }

  private async end(): Promise<void> {
    // A record another release wrote may lack what this one reads: ending never depends on it.
    const record = this.#live?.record ?? this.ctx.storage.kv.get<Partial<SessionRecord>>("record");
    const sub = record?.identity?.sub;
    this.#listening?.abort();
    this.#listening = undefined;
    // The origin stops work nobody waits for any more (the client's requests on their way are answered 404).
    for (const controller of this.#direct.values()) controller.abort("the session ended");
    for (const { exchange, expiry } of this.#prefetched.values()) {
      clearTimeout(expiry);
      exchange.abort("the session ended");
    }
    this.#direct.clear();
    this.#prefetched.clear();
    this.#open.clear();
    this.#unavailable.clear();
    for (const givenUp of this.#answering.values()) givenUp(undefined);
    this.#answering.clear();
    for (const socket of this.ctx.getWebSockets()) socket.close(WATCH_CLOSE.ended.code, WATCH_CLOSE.ended.reason);
    const live = this.#live;
    this.#live = undefined;
    await this.ctx.storage.deleteAll();
    await this.ctx.storage.deleteAlarm();
    await live?.server.close().catch(() => {});
    // Last: while it is awaited, requests arriving find the session already gone.
    if (typeof sub === "string" && typeof record?.sessionId === "string")
      await this.tellRegistry(sub, "forget", record.sessionId);
  }
}

/** An answer the transport of a 2025-era session sent, and whether it was the session's own failure. */
interface SentAnswer {
  message: JSONRPCMessage;
  unavailable: boolean;
}

/** How a 2025-era request ended that the session gave up before its answer (it ended). */
const GIVEN_UP: Observation = { outcome: "cancelled", responseBytes: 0 };

/** How a request ended, from the answer its stream carried (none: the stream ended first). */
function observationOf(answer: JSONRPCMessage | undefined): Observation {
  const json = answer === undefined ? undefined : JSON.stringify(answer);
  const found = json === undefined ? undefined : outcomeOfAnswer(json);
  return { ...(found ?? { outcome: "error" }), responseBytes: json === undefined ? 0 : utf8Length(json) };
}
