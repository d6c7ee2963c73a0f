import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import type { SessionRecord } from "./session-record.ts";

/**
 * A 2025-era client's GET stream is held by the Worker invocation that received the GET (billed for CPU only), not
 * by the session object (billed for wall-clock time while a stream keeps it in memory): DESIGN.md, "What a Durable
 * Object costs". The object keeps what must outlive one invocation: the record, the event log that `Last-Event-ID`
 * reads, and a hibernatable WebSocket to each invocation holding a stream, over which it says what changed.
 */

/** The stream id of the session's GET stream in the event log (the SDK transport's own name for it). */
export const GET_STREAM_ID = "_GET_stream";

/** Where the Worker opens its WebSocket to the session object. */
export const WATCH_URL = "https://session.internal/watch";

/** Why the object closes a watcher's WebSocket; the invocation then ends the client's stream. */
export const WATCH_CLOSE = {
  replaced: { code: 4000, reason: "a newer GET stream replaced this one" },
  ended: { code: 4001, reason: "the session ended" },
} as const;

/** What the object sends a watcher: the session's resource subscriptions changed (resources/subscribe). */
export interface WatchMessage {
  subscriptions: string[];
}

/** What the object tells the Worker that opens (or resumes) the GET stream. */
export interface OpenedStream {
  record: SessionRecord;
  /** Events of the GET stream after the client's `Last-Event-ID`, in order. */
  replay: { id: string; message: JSONRPCMessage }[];
  /**
   * The client resumes: while no stream was open nobody listened at the origin, so every list the upstream may
   * change, and every subscribed resource, is announced as changed once the new listen is acknowledged. A client
   * re-reads a list it did not need to; it never misses a change.
   */
  announce: boolean;
}

/**
 * Whether a GET with this `Last-Event-ID` opens or resumes the GET stream (held by the Worker) rather than a POST's
 * stream. An empty one names no event: it opens the stream afresh, as none would.
 */
export const resumesGetStream = (lastEventId: string | null): boolean =>
  !lastEventId || lastEventId.startsWith(`${GET_STREAM_ID}_`);
