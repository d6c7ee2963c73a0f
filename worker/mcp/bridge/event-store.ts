import type { EventStore, JSONRPCMessage } from "@modelcontextprotocol/server";

/** Events kept per session for `Last-Event-ID` resumption; the oldest go first. */
const MAX_EVENTS = 1000;

const EVENT_PREFIX = "event:";
const SEQUENCE_KEY = "event-sequence";

interface StoredEvent {
  streamId: string;
  message: JSONRPCMessage;
}

/**
 * The session's resumption log: every SSE event the session sent, by id, so that a client whose stream broke can
 * reconnect with `Last-Event-ID` and get what it missed on that stream. Event ids name their stream and their place
 * in the log (`<stream>_<n>`). It lives in the session object's storage, so a reconnect finds it even after the
 * object was evicted and loaded again; it ends with the session (its storage is deleted).
 */
export class StorageEventStore implements EventStore {
  readonly #storage: SyncKvStorage;
  readonly #maxEvents: number;

  constructor(storage: SyncKvStorage, maxEvents = MAX_EVENTS) {
    this.#storage = storage;
    this.#maxEvents = maxEvents;
  }

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const sequence = (this.#storage.get<number>(SEQUENCE_KEY) ?? 0) + 1;
    this.#storage.put(SEQUENCE_KEY, sequence);
    this.#storage.put<StoredEvent>(keyOf(sequence), { streamId, message });
    if (sequence > this.#maxEvents) this.#storage.delete(keyOf(sequence - this.#maxEvents));
    return `${streamId}_${sequence}`;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return streamOf(eventId);
  }

  /** Replays the stream's events after `lastEventId`; all of them that are kept if that event is no longer kept. */
  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const streamId = streamOf(lastEventId);
    const sequence = sequenceOf(lastEventId);
    if (!streamId || sequence === undefined) return "";
    const kept = this.#storage.get<StoredEvent>(keyOf(sequence)) !== undefined;
    const events = this.#storage.list<StoredEvent>(
      kept ? { prefix: EVENT_PREFIX, startAfter: keyOf(sequence) } : { prefix: EVENT_PREFIX },
    );
    for (const [key, event] of events) {
      if (event.streamId === streamId) await send(`${streamId}_${Number(key.slice(EVENT_PREFIX.length))}`, event.message);
    }
    return streamId;
  }
}

/** Zero-padded, so that storage lists events in the order they were sent. */
const keyOf = (sequence: number) => `${EVENT_PREFIX}${String(sequence).padStart(12, "0")}`;

const streamOf = (eventId: string) => eventId.slice(0, Math.max(0, eventId.lastIndexOf("_"))) || undefined;

function sequenceOf(eventId: string): number | undefined {
  const sequence = Number(eventId.slice(eventId.lastIndexOf("_") + 1));
  return Number.isSafeInteger(sequence) && sequence > 0 ? sequence : undefined;
}
