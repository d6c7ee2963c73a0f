import type { AuditOutcome } from "../../contract/audit-event.ts";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import { ORIGIN_RETRY_AFTER_SECONDS } from "../upstream/origin-failure.ts";
import { announceEveryChange, hasAnythingToListenFor, type ListNotification, listenToOrigin } from "./bridge/listen.ts";
import type { OriginLink } from "./bridge/origin-exchange.ts";
import {
  authorizationLapsed,
  authorizedUntil,
  claimsOf,
  type SessionIdentity,
  type SessionRecord,
} from "./bridge/session-record.ts";
import { KEEPALIVE_MS } from "./bridge/sse-transport.ts";
import { type OpenedStream, WATCH_URL, type WatchMessage } from "./bridge/stream-watch.ts";
import type { Observation } from "./observe-response.ts";
import { sessionNotFound } from "./session-not-found.ts";

/**
 * How each GET stream this invocation holds began, for its audit row (worker/mcp/handler.ts): answered 200 before its
 * listen is tried, it is `ok` only once the origin acknowledged that listen (or there was nothing to listen for), and
 * `unavailable` when it could not begin (s27 failure hunt F4), as a 2026-07-28 listen is recorded.
 */
const openings = new WeakMap<Response, Promise<Observation>>();

/** How a GET stream held by `holdSessionStream` began, once that is known; undefined for any other response. */
export const streamOpeningOf = (response: Response): Promise<Observation> | undefined => openings.get(response);

/**
 * A 2025-era client's GET stream, held by this Worker invocation (see bridge/stream-watch.ts): the session object
 * hands over the record and what the client missed, and this invocation listens at the origin, logs each
 * notification in the object's event log (for `Last-Event-ID`) and writes it to the client. Over a WebSocket the
 * object says when the subscriptions change (listen again) or the stream must end (a newer GET, DELETE). When the
 * origin's listen ends, so does the client's stream: the client reconnects and resumes. Every listen is signed for
 * the caller of the GET, so the stream ends too once their token expires or their groups are older than the TTL
 * (`authorizedUntil`): the client reconnects with fresh credentials, and resumes from its Last-Event-ID (the event log
 * and the announcement of every change cover the gap), or is refused.
 */
export async function holdSessionStream(
  session: DurableObjectStub<McpSession>,
  origin: OriginLink,
  caller: SessionIdentity,
  sessionId: string,
  lastEventId: string | undefined,
): Promise<Response> {
  const opened = await session.openStream(caller, sessionId, lastEventId);
  if (opened instanceof Response) return opened;
  const watch = (await session.fetch(WATCH_URL, { headers: { upgrade: "websocket" } })).webSocket;
  // Refused: the session ended since it was opened (a DELETE in between).
  if (!watch) return sessionNotFound("initialize a new session");
  watch.accept();
  let began!: (outcome: AuditOutcome) => void;
  const opening = new Promise<Observation>((resolve) => {
    began = (outcome) => resolve({ outcome, responseBytes: 0 });
  });
  const body = streamBody(session, origin, caller, opened as OpenedStream, watch, began);
  const response = new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform", "mcp-session-id": sessionId },
  });
  openings.set(response, opening);
  return response;
}

function streamBody(
  session: DurableObjectStub<McpSession>,
  origin: OriginLink,
  caller: SessionIdentity,
  opened: OpenedStream,
  watch: WebSocket,
  /** Told how the stream began; only its first telling counts. */
  began: (outcome: AuditOutcome) => void,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let record: SessionRecord = opened.record;
  let announce = opened.announce;
  let listening: AbortController | undefined;
  let keepalive: ReturnType<typeof setInterval> | undefined;
  let lapse: ReturnType<typeof setTimeout> | undefined;
  let ended = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const write = (text: string) => {
    if (!ended) controller.enqueue(encoder.encode(text));
  };
  const end = (closeWatch: boolean) => {
    if (ended) return;
    ended = true;
    began("ok"); // ended (a newer GET, a DELETE, its caller's authorization) before its first listen was heard
    clearInterval(keepalive);
    clearTimeout(lapse);
    listening?.abort();
    if (closeWatch) watch.close(1000, "the client's stream ended");
    try {
      controller.close();
    } catch {
      // The client cancelled it already.
    }
  };
  // Logged first, so that a client resuming after it gets it again; then written.
  const deliver = async (notification: ListNotification) => {
    const message = { jsonrpc: "2.0" as const, ...notification };
    const id = await session.logStreamEvent(message);
    if (id === undefined) return end(true); // the session ended
    write(`id: ${id}\ndata: ${JSON.stringify(message)}\n\n`);
  };
  // A new listen starts before the one it replaces stops (on acknowledgement): nothing falls between the two.
  const listen = () => {
    // A removed user's resources/subscribe must not be watched in the name of the groups the stream opened with.
    if (authorizationLapsed(caller)) return end(true);
    const previous = listening;
    if (!hasAnythingToListenFor(record)) {
      listening = undefined;
      previous?.abort();
      began("ok");
      return;
    }
    const current = new AbortController();
    listening = current;
    let heard = false;
    const acknowledged = () => {
      heard = true;
      began("ok");
      previous?.abort();
      if (!announce) return;
      announce = false;
      announceEveryChange(record, deliver, "a resumed stream's changes");
    };
    listenToOrigin(origin, record, claimsOf(caller), current.signal, deliver, acknowledged)
      .catch((error: unknown) => {
        if (!current.signal.aborted) console.error(`listen stream for a session ended: ${String(error)}`);
      })
      .finally(() => {
        // Ended before it was acknowledged: the listen it was to replace is given up with it.
        previous?.abort();
        if (listening !== current) return;
        // Never begun (the origin unreachable, or refusing): the SDKs would reconnect at once, every second of an
        // outage (s27 failure hunt F4). Both honour the stream's `retry:`.
        if (!heard && !current.signal.aborted) {
          write(`retry: ${ORIGIN_RETRY_AFTER_SECONDS * 1000}\n\n`);
          began("unavailable");
        }
        end(true);
      });
  };

  watch.addEventListener("message", (event) => {
    record = { ...record, subscriptions: (JSON.parse(String(event.data)) as WatchMessage).subscriptions };
    listen();
  });
  watch.addEventListener("close", () => end(false));
  return new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
      for (const { id, message } of opened.replay) write(`id: ${id}\ndata: ${JSON.stringify(message)}\n\n`);
      keepalive = setInterval(() => write(": keepalive\n\n"), KEEPALIVE_MS);
      const until = authorizedUntil(caller);
      if (until !== undefined) lapse = setTimeout(() => end(true), Math.max(0, until * 1000 - Date.now()));
      listen();
    },
    cancel() {
      began("cancelled");
      end(true);
    },
  });
}
