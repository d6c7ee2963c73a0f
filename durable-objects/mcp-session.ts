import { DurableObject } from "cloudflare:workers";
import type { JSONRPCMessage, ProtocolError, Server } from "@modelcontextprotocol/server";
import { SESSION_AUDITS_HEADER } from "../contract/answer-outcome.ts";
import { type CancelledNotification, cancelledRequestId, requestIdsOf } from "../contract/json-rpc-ids.ts";
import type { RequestAudit } from "../worker/audit/request-audit.ts";
import { edgeConfig } from "../worker/config.ts";
import type { EdgeEnv } from "../worker/env.ts";
import { jsonOrUndefined } from "../worker/http/json-or-undefined.ts";
import { type DirectAnswer, plainRequest } from "../worker/mcp/bridge/direct-answer.ts";
import { withIncarnationIds } from "../worker/mcp/bridge/incarnation-ids.ts";
import { type OriginLink, originLinkOf } from "../worker/mcp/bridge/origin-exchange.ts";
import {
  authorizationLapsed,
  claimsOf,
  isOwner,
  type SessionIdentity,
  type SessionRecord,
} from "../worker/mcp/bridge/session-record.ts";
import { type SessionHttpRequest, toRequest } from "../worker/mcp/bridge/session-request.ts";
import { sessionEndedForLimit, sessionServer } from "../worker/mcp/bridge/session-server.ts";
import { SseServerTransport } from "../worker/mcp/bridge/sse-transport.ts";
import { type OpenedStream, WATCH_URL } from "../worker/mcp/bridge/stream-watch.ts";
import { JSON_RPC, jsonRpcError } from "../worker/mcp/json-rpc-error.ts";
import { sessionNotFound } from "../worker/mcp/session-not-found.ts";
import { AnswerAudits } from "./session/answer-audits.ts";
import { GetStream } from "./session/get-stream.ts";
import { SessionLifecycle } from "./session/lifecycle.ts";
import { UpstreamListening } from "./session/listening.ts";
import { assembleSession, type LiveSession, replayHandshake } from "./session/live-session.ts";
import {
  answerCancelled,
  answerWith,
  type InitializeMessage,
  idInUse,
  isInitialize,
  isOneMessage,
  nothingMoreOnStream,
} from "./session/messages.ts";
import { newRecord } from "./session/new-record.ts";
import { OpenRequests } from "./session/open-requests.ts";
import { deliverToSse, type SseSession } from "./session/sse.ts";
import { StreamRequests } from "./session/stream-requests.ts";

/**
 * One 2025-era MCP client session, keyed by its `Mcp-Session-Id`. The SDK's Streamable HTTP transport and a
 * session server (worker/mcp/bridge/session-server.ts) speak the 2025 protocol to the client; every request
 * leaves for the origin as a stateless 2026-07-28 request. The record in storage is enough to rebuild the
 * session after eviction: the client's `initialize` is replayed to a fresh server. The resumption log is in
 * storage too, so a client reconnecting with `Last-Event-ID` after an eviction gets what it missed.
 * Or one 2024-11-05 HTTP+SSE session, which lives as long as its stream. Each concern is a part under session/;
 * this class ties them together.
 */
export class McpSession extends DurableObject<EdgeEnv> {
  #live?: LiveSession;
  /** The rebuild under way, which every request arriving meanwhile waits for (rebuildOnce). */
  #rebuilding?: Promise<LiveSession | undefined>;
  /** The caller of the request being served: same user as the record, with their current groups. */
  #caller?: SessionIdentity;
  #sse?: SseSession;
  readonly #requests = new OpenRequests();
  /** Requests in `serve` now, whether or not they are open yet (inFlight counts them). */
  #arriving = 0;
  readonly #audits = new AnswerAudits(this.ctx, () => this.env);
  readonly #lifecycle = new SessionLifecycle(
    this.ctx,
    () => this.env,
    () => this.#audits.anyHeld,
  );
  readonly #stream = new GetStream(this.ctx);
  readonly #streamRequests = new StreamRequests(this.ctx.storage.kv);
  readonly #listening = new UpstreamListening();

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
    // Counted from its arrival, not only once it is open: a request waiting here for the session's rebuild (or a
    // storage read) is in flight too, and an end for the limit must not find the session idle meanwhile.
    this.#arriving++;
    try {
      return await this.#serve(http, caller, sessionId, audit);
    } finally {
      this.#arriving--;
    }
  }

  async #serve(
    http: SessionHttpRequest,
    caller: SessionIdentity,
    sessionId: string,
    audit?: RequestAudit,
  ): Promise<Response | DirectAnswer> {
    const origin = this.origin();
    const body = http.body === undefined ? undefined : jsonOrUndefined(http.body);
    if (isInitialize(body)) return this.begin(origin, toRequest(http, body), body, caller, sessionId);

    const live = this.#live ?? (await this.rebuildOnce(origin));
    if (!live || !isOwner(live.record.identity, caller)) return sessionNotFound("initialize a new session");
    this.#caller = caller;
    this.#lifecycle.keepAlive(caller.sub, sessionId);
    const cancelled = cancelledRequestId(body);
    if (cancelled !== undefined) this.#requests.cancel(cancelled, (body as CancelledNotification).params?.reason);
    const ids = requestIdsOf(body);
    const reused = this.#requests.reusedId(ids);
    if (reused !== undefined) return idInUse(reused);
    const plain = plainRequest(http.method, new Headers(http.headers), body);
    if (plain) {
      const answered = await this.#requests.answerDirectly(origin, live.record, this.#caller, plain);
      if (answered) return answered;
    }
    // A GET here resumes a POST's stream (Last-Event-ID): the GET stream itself is the Worker's (openStream).
    const resumedAfter = http.method === "GET" ? new Headers(http.headers).get("last-event-id") : null;
    // Nothing of the session still worked on, nothing logged after the event: the stream can bring nothing more.
    // Its request lost with an earlier incarnation of this object (no answer ever sent): its error, not a hang.
    if (resumedAfter && this.#requests.none && !live.events.hasMoreAfter(resumedAfter)) {
      const stream = await live.events.getStreamIdForEventId(resumedAfter);
      return this.#streamRequests.lostAnswer(stream) ?? nothingMoreOnStream();
    }
    if (resumedAfter) await this.#releaseLostStream(live, resumedAfter);
    const request = toRequest(http, body);
    this.#requests.open(ids);
    // One request (not a batch, whose answers the Worker reads together): its answer is awaited from now on.
    const single = audit && !Array.isArray(body) && ids.length === 1 ? ids[0] : undefined;
    const answer = single === undefined ? undefined : this.#audits.answerOf(single);
    // Read before the session server takes the exchange over: the route is known once the origin's answer began.
    const route = single === undefined ? undefined : this.#requests.routeOf(single);
    const response = await live.transport.handleRequest(request, body === undefined ? undefined : { parsedBody: body });
    if (!response.ok) {
      for (const id of ids) {
        this.#requests.refused(id);
        this.#audits.refused(id);
      }
    }
    if (request.method === "DELETE" && response.ok) await this.end();
    if (cancelled !== undefined) await answerCancelled(live.transport, cancelled);
    if (!response.ok || !answer || !audit) return response;
    this.#audits.auditAtAnswer(audit, answer, route);
    const headers = new Headers(response.headers);
    headers.set(SESSION_AUDITS_HEADER, "1");
    const streamed = response.body && headers.get("content-type")?.startsWith("text/event-stream");
    const answerBody =
      streamed && single !== undefined ? this.#streamRequests.noted(response.body, single, answer) : response.body;
    return new Response(answerBody, { status: response.status, headers });
  }

  /**
   * A client resumes a POST's stream (Last-Event-ID) only once it lost it, but the loss may never have reached this
   * object: a client's cancel does not come through to the transport's stream. The transport would then take the old
   * stream for a live one and refuse the resume 409 until the call's answer, and the client gives up after two
   * retries, its answer lost (s29 races F2). So the old stream is closed first: the answer goes to the resumed one.
   */
  async #releaseLostStream(live: LiveSession, lastEventId: string): Promise<void> {
    const answering = this.#streamRequests.requestOf(await live.events.getStreamIdForEventId(lastEventId));
    if (answering !== undefined) live.transport.closeSSEStream(answering);
  }

  /**
   * The client opens its GET stream, or resumes it after `lastEventId`: the Worker invocation that holds the stream
   * gets the record and the events the client missed (bridge/stream-watch.ts). Another user's, or an unknown or ended
   * session, gets 404.
   */
  async openStream(caller: SessionIdentity, sessionId: string, lastEventId?: string): Promise<OpenedStream | Response> {
    const record = this.#record();
    if (!record || record.sessionId !== sessionId || !isOwner(record.identity, caller)) {
      return sessionNotFound("initialize a new session");
    }
    this.#lifecycle.keepAlive(caller.sub, sessionId);
    return this.#stream.opened(record, lastEventId);
  }

  /**
   * Logs a notification the Worker is about to write on the GET stream; returns its event id, or undefined once the
   * session has ended (nothing is stored for a session that is gone: the stream ends instead).
   */
  async logStreamEvent(message: JSONRPCMessage): Promise<string | undefined> {
    if (!this.#hasRecord()) return undefined;
    return this.#stream.log(message);
  }

  /**
   * The WebSocket of the Worker invocation that holds the GET stream. Accepted for hibernation: the object may
   * leave memory while the stream stays open, and wakes only to say that something changed.
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.url !== WATCH_URL || request.headers.get("upgrade") !== "websocket") return new Response(null, { status: 404 });
    // Ended between the stream's opening and this watch (a DELETE in between): nothing to watch.
    if (!this.#hasRecord()) return new Response(null, { status: 404 });
    return this.#stream.watch(() => this.#record()?.subscriptions ?? []);
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
      this.#listening.stop();
      this.#sse = undefined;
      void this.#lifecycle.tellRegistry(caller.sub, "forget", sessionId);
    };
    await this.#lifecycle.register(caller, sessionId);
    return transport.response;
  }

  /** A message POSTed to a 2024-11-05 session; its answer travels on the session's stream (deliverToSse). */
  async postSse(message: Record<string, unknown>, caller: SessionIdentity, audit: RequestAudit): Promise<Response> {
    const sse = this.#sse;
    if (!sse || !isOwner(sse.caller, caller)) return sessionNotFound("open a new SSE stream");
    if (!isOneMessage(message)) {
      // Its id, when it has a readable one, so that its client can tell which of its requests this answers.
      const id = Array.isArray(message) ? undefined : message.id;
      return jsonRpcError(
        400,
        typeof id === "string" || typeof id === "number" ? id : undefined,
        JSON_RPC.invalidRequest,
        "Invalid message: a POST to this session carries one valid JSON-RPC message (a request, a notification or a response), not a batch",
      );
    }
    this.#caller = caller;
    // Its alarm is the held audits' (AnswerAudits): only the registry hears of the use.
    this.#lifecycle.noteUse(caller.sub, sse.transport.sessionId);
    const refused = await this.initialized(sse, message, caller);
    if (refused) return refused;
    return deliverToSse(sse, message, audit, this.#audits);
  }

  /**
   * Makes sure a 2024-11-05 session has its server before `message` is handed to it: the first `initialize` begins it;
   * another message arriving meanwhile waits, then goes to that server, as if it had come after. Two initializes at
   * once would otherwise each discover the upstream and connect a server of their own to the one stream, and both
   * servers would answer every later message. The error the client is answered with when there is none.
   */
  private async initialized(sse: SseSession, message: Record<string, unknown>, caller: SessionIdentity) {
    while (!sse.server) {
      if (!sse.initializing) {
        if (!isInitialize(message)) return jsonRpcError(400, undefined, JSON_RPC.invalidRequest, "initialize first");
        // Refused: the next initialize (one waiting, say) tries anew.
        const initializing: Promise<Response | undefined> = this.initializeSse(sse, message, caller).finally(() => {
          if (sse.initializing === initializing) sse.initializing = undefined;
        });
        sse.initializing = initializing;
        return initializing;
      }
      await sse.initializing;
    }
    return undefined;
  }

  /** A 2024-11-05 session's `initialize`: its record and server; or the error its client is answered with. */
  private async initializeSse(
    sse: SseSession,
    message: InitializeMessage,
    caller: SessionIdentity,
  ): Promise<Response | undefined> {
    const origin = this.origin();
    const record = await newRecord(origin, caller, sse.transport.sessionId, message);
    if (record instanceof Response) return record;
    const live = { record } as Pick<LiveSession, "record" | "server">;
    // The stream is the session: it is not stored, and it listens from the start.
    live.server = this.serverFor(origin, live, { persist: false, listenAlways: true });
    await live.server.connect(sse.transport);
    sse.server = live.server;
    this.startListening(origin, live);
    return undefined;
  }

  /** How this object reaches the origin. */
  private origin(): OriginLink {
    return originLinkOf(this.env);
  }

  /**
   * The alarm is set soon while audits are held (AnswerAudits), else for the session's idle end. It records each audit
   * held past a restart as a request that ended without an answer; those of requests still worked on (and a live
   * 2024-11-05 stream's) are to come: it looks again later. With none held, a 2025-era session idle for less than a day
   * gets its idle alarm again; an idle one, a stream-less 2024-11-05 one or an ended one with nothing left is over.
   */
  override async alarm(): Promise<void> {
    if (this.#sse) {
      this.#audits.lookAgainLater();
      return;
    }
    await this.#audits.recordLeftBehind();
    // One that could not be queued is kept for the next alarm.
    if (this.#audits.lookAgainLater()) return;
    // A session that ended with audits to queue kept only them: nothing of it is left to be idle.
    if (this.#hasRecord() && this.#lifecycle.idleUntilLater()) return;
    await this.end();
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
      this.#lifecycle.keepAlive(caller.sub, sessionId);
      await this.#lifecycle.register(caller, sessionId);
    }
    return response;
  }

  /**
   * One rebuild for all the requests that arrive while the session is not in memory. Each rebuilding its own would
   * serve with a copy of the record of its own, and the last one saved would win: of three `resources/subscribe` that
   * arrived together after an eviction, one was lost now and then (s29 races, the test that pinned them as sound).
   */
  private rebuildOnce(origin: OriginLink): Promise<LiveSession | undefined> {
    this.#rebuilding ??= this.rebuild(origin).finally(() => {
      this.#rebuilding = undefined;
    });
    return this.#rebuilding;
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
      await replayHandshake(live.transport, record);
      this.#live = live;
      return live;
    } catch (error) {
      console.error(`a session of server ${record.identity?.server} could not be rebuilt and is ended: ${String(error)}`);
      await live?.server.close().catch(() => {});
      await this.end();
      return undefined;
    }
  }

  private assemble(origin: OriginLink, record: SessionRecord): Promise<LiveSession> {
    return assembleSession(record, this.#stream.events(), {
      // An answer sent ends its request's work: what resuming a stream can still bring depends on what is open.
      answered: (id, message) => {
        this.#requests.answered(id);
        this.#audits.sent(id, message);
      },
      server: (live) => this.serverFor(origin, live, { persist: true, listenAlways: false }),
    });
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
      prefetched: (id) => this.#requests.takePrefetched(id),
      // Only a 2025-era session's answers are audited by what the transport sends (auditAtAnswer).
      unavailable: options.persist ? (id) => this.#audits.unavailable(id) : undefined,
      subscriptionsChanged: () => {
        if (!options.listenAlways) return this.#stream.tell({ subscriptions: live.record.subscriptions });
        this.startListening(origin, live);
      },
    });
  }

  /** A 2024-11-05 session listens at the origin for as long as its stream lives, in its caller's name. */
  private startListening(origin: OriginLink, live: Pick<LiveSession, "record" | "server">): void {
    this.#listening.start(
      {
        origin,
        record: () => live.record,
        claims: () => claimsOf(this.#caller ?? live.record.identity),
        deliver: (notification) => live.server.notification(notification as never),
        lapsed: () => authorizationLapsed(this.#caller),
      },
      // Its client opens a new stream, with a fresh token: the session lives no longer than its caller's credentials.
      () => void this.#sse?.transport.close(),
    );
  }

  /**
   * Whether a request of the session is worked on now: its user's registry asks before it ends the session past
   * `sessionsPerUser`, and ends an idle one first. Nothing is kept for it, so it costs calls nothing: an object that
   * was evicted from memory, or whose session ended, answers false, truthfully (its requests ended with it).
   */
  async inFlight(): Promise<boolean> {
    return this.#busy();
  }

  #busy(): boolean {
    // A 2024-11-05 session stores no record, and its calls are not requests of its own: the answers its stream owes are.
    if (this.#sse) return this.#sse.transport.answersAwaited > 0;
    return this.#hasRecord() && (this.#arriving > 0 || !this.#requests.idle);
  }

  /**
   * Ends the session because its user began more than `sessionsPerUser` (their registry chose this one): logged, and
   * its calls in flight answered so (SESSION_LIMIT_CODE, audited `error`), not as broken off nor given up. `ifIdle`
   * (the registry found it idle): only if no call has begun since, checked in the same turn as the end begins, so
   * that no call can slip in between (s25 review F5). Answers whether it ended the session.
   */
  async evict(options: { ifIdle?: boolean } = {}): Promise<boolean> {
    if (options.ifIdle && this.#busy()) return false;
    const limit = edgeConfig(this.env).sessionsPerUser;
    const sub = this.#sse?.caller.sub ?? this.#record()?.identity?.sub;
    // A 2024-11-05 stream's calls are not counted here: it is closed, and their answers are lost, not answered -32009.
    const answered = this.#sse ? 0 : this.#requests.count;
    // Begun before the log line's awaits: a request arriving from now on finds the session gone.
    const ending = this.#sse ? this.#sse.transport.close() : this.end(sessionEndedForLimit(limit));
    if (typeof sub === "string") await this.#lifecycle.logEndedForLimit(sub, limit, answered);
    await ending;
    return true;
  }

  /** The session's record: in memory while it is live, else as stored. */
  #record(): SessionRecord | undefined {
    return this.#live?.record ?? this.ctx.storage.kv.get<SessionRecord>("record");
  }

  #hasRecord(): boolean {
    return this.#live !== undefined || this.ctx.storage.kv.get("record") !== undefined;
  }

  /**
   * Ends the session. `why`, when given, is what its calls still in flight are answered, before their exchanges are
   * aborted (which would answer them as broken off); without it they are given up (a DELETE, the idle alarm).
   */
  private async end(why?: ProtocolError): Promise<void> {
    // A record another release wrote may lack what this one reads: ending never depends on it.
    const record = this.#live?.record ?? this.ctx.storage.kv.get<Partial<SessionRecord>>("record");
    const sub = record?.identity?.sub;
    this.#listening.stop();
    const transport = this.#live?.transport;
    if (why && transport) await Promise.all(this.#requests.withServer.map((id) => answerWith(transport, id, why)));
    // The origin stops work nobody waits for any more (the client's requests on their way are answered 404).
    this.#requests.abortAll(why ?? "the session ended");
    this.#audits.giveUpAll();
    this.#stream.endAll();
    const live = this.#live;
    this.#live = undefined;
    // The record goes at once (requests arriving find no session); a held audit only once its event was queued: one
    // the queue refused stays, and the alarm tries again (alarm()), as it does after a restart.
    this.#audits.forgetAllButHeld();
    await this.#audits.settle();
    if (!this.#audits.lookAgainLater()) {
      await this.ctx.storage.deleteAll();
      await this.ctx.storage.deleteAlarm();
    }
    await live?.server.close().catch(() => {});
    // Last: while it is awaited, requests arriving find the session already gone.
    if (typeof sub === "string" && typeof record?.sessionId === "string")
      await this.#lifecycle.tellRegistry(sub, "forget", record.sessionId);
  }
}
