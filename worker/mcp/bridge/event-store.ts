import type { EventStore, JSONRPCMessage } from "@modelcontextprotocol/server";

/** JSON-RPC's "internal error": the answer that stands in for one too large to keep. */
const JSON_RPC_INTERNAL_ERROR = -32603;

/** Events kept per session for `Last-Event-ID` resumption; the oldest go first. */
const MAX_EVENTS = 1000;
/**
 * The most one event may take in the log, in UTF-16 code units of its JSON (at most twice as many bytes as stored):
 * well under the 2 MB a Durable Object stores per value. A larger answer is kept as an error saying it was too large
 * to keep; a larger notification is not kept.
 */
const MAX_EVENT_CHARS = 512 * 1024;
/** The most the whole log may take (same unit): past it, the oldest events go first. */
const MAX_LOG_CHARS = 8 * 1024 * 1024;

const EVENT_PREFIX = "event:";
/** The log's state: one value, so that logging an event writes two (the event and this). */
const STATE_KEY = "event-log";
/** Where older code kept the last sequence number alone. */
const LEGACY_SEQUENCE_KEY = "event-sequence";

interface LogState {
  /** The last event's number. */
  sequence: number;
  /** The oldest event's number still kept. */
  oldest: number;
  /** What the kept events take (events written by older code count as nothing). */
  chars: number;
}

interface StoredEvent {
  streamId: string;
  message: JSONRPCMessage;
  /** Its JSON's length (absent in events written by older code). */
  chars?: number;
}

export interface EventLogBounds {
  maxEvents: number;
  maxEventChars: number;
  maxLogChars: number;
}

const DEFAULT_BOUNDS: EventLogBounds = { maxEvents: MAX_EVENTS, maxEventChars: MAX_EVENT_CHARS, maxLogChars: MAX_LOG_CHARS };

/**
 * The session's resumption log: every SSE event the session sent, by id, so that a client whose stream broke can
 * reconnect with `Last-Event-ID` and get what it missed on that stream. Event ids name their stream and their place
 * in the log (`<stream>_<n>`). It lives in the session object's storage, so a reconnect finds it even after the
 * object was evicted and loaded again; it ends with the session (its storage is deleted).
 */
export class StorageEventStore implements EventStore {
  readonly #storage: SyncKvStorage;
  readonly #bounds: EventLogBounds;

  constructor(storage: SyncKvStorage, bounds: Partial<EventLogBounds> = {}) {
    this.#storage = storage;
    this.#bounds = { ...DEFAULT_BOUNDS, ...bounds };
  }

  /**
   * Logs an event and names it. Never throws: the event is on its way to the client live whatever happens here; a
   * log that cannot keep it costs only a resumption.
   */
  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const state = this.#state();
    const sequence = state.sequence + 1;
    let kept = this.#keptForm(streamId, message);
    try {
      if (kept) this.#storage.put<StoredEvent>(keyOf(sequence), kept);
    } catch (error) {
      kept = undefined;
      console.error(`session event ${sequence} not kept for resumption: ${String(error)}`);
    }
    try {
      // Counted whether or not the event was kept: its id is on its way to the client, and must not name another.
      this.#storage.put<LogState>(STATE_KEY, this.#trimmed({ ...state, sequence, chars: state.chars + (kept?.chars ?? 0) }));
    } catch (error) {
      console.error(`the session's resumption log could not count event ${sequence}: ${String(error)}`);
    }
    return `${streamId}_${sequence}`;
  }

  #state(): LogState {
    const stored = this.#storage.get<LogState>(STATE_KEY);
    if (stored) return stored;
    const sequence = this.#storage.get<number>(LEGACY_SEQUENCE_KEY) ?? 0;
    return { sequence, oldest: Math.max(1, sequence - this.#bounds.maxEvents + 1), chars: 0 };
  }

  /** The event as the log keeps it: an answer too large to keep becomes an error that says so; such a notification, nothing. */
  #keptForm(streamId: string, message: JSONRPCMessage): StoredEvent | undefined {
    const chars = JSON.stringify(message).length;
    if (chars <= this.#bounds.maxEventChars) return { streamId, message, chars };
    const id = (message as { id?: string | number }).id;
    if (id === undefined || "method" in message) return undefined;
    const error = {
      code: JSON_RPC_INTERNAL_ERROR,
      message: `the answer (${chars} characters) was too large to keep for a resumed stream; send the request again`,
    };
    const replacement: JSONRPCMessage = { jsonrpc: "2.0", id, error };
    return { streamId, message: replacement, chars: JSON.stringify(replacement).length };
  }

  /** The state once the oldest events are dropped while the log holds more than its bounds allow (the newest stays). */
  #trimmed(state: LogState): LogState {
    const { maxEvents, maxLogChars } = this.#bounds;
    let { oldest, chars } = state;
    while (oldest < state.sequence && (state.sequence - oldest >= maxEvents || chars > maxLogChars)) {
      chars -= this.#storage.get<StoredEvent>(keyOf(oldest))?.chars ?? 0;
      this.#storage.delete(keyOf(oldest));
      oldest++;
    }
    return { sequence: state.sequence, oldest, chars: Math.max(0, chars) };
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return streamOf(eventId);
  }

  /**
   * Replays the stream's events after `lastEventId`: every one kept if the log dropped that event already, none if the
   * log never counted it (an id it did not give).
   */
  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const streamId = streamOf(lastEventId);
    const sequence = sequenceOf(lastEventId);
    if (!streamId || sequence === undefined) return "";
    for (const [number, event] of this.#eventsOf(streamId, sequence)) await send(`${streamId}_${number}`, event.message);
    return streamId;
  }

  /**
   * Whether the log holds anything of `lastEventId`'s stream after that event, for a resumption to replay. An id the
   * log cannot read is left to the SDK to refuse.
   */
  hasMoreAfter(lastEventId: string): boolean {
    const streamId = streamOf(lastEventId);
    const sequence = sequenceOf(lastEventId);
    if (!streamId || sequence === undefined) return true;
    return !this.#eventsOf(streamId, sequence).next().done;
  }

  /** The kept events of a stream after event number `after` (every kept one if the log dropped that event already). */
  *#eventsOf(streamId: string, after: number): Generator<[number, StoredEvent]> {
    const from = after >= this.#state().oldest ? { startAfter: keyOf(after) } : {};
    for (const [key, event] of this.#storage.list<StoredEvent>({ prefix: EVENT_PREFIX, ...from })) {
      if (event.streamId === streamId) yield [Number(key.slice(EVENT_PREFIX.length)), event];
    }
  }
}

/** Zero-padded, so that storage lists events in the order they were sent. */
const keyOf = (sequence: number) => `${EVENT_PREFIX}${String(sequence).padStart(12, "0")}`;

const streamOf = (eventId: string) => eventId.slice(0, Math.max(0, eventId.lastIndexOf("_"))) || undefined;

function sequenceOf(eventId: string): number | undefined {
  const sequence = Number(eventId.slice(eventId.lastIndexOf("_") + 1));
  return Number.isSafeInteger(sequence) && sequence > 0 ? sequence : undefined;
}
