import type { EventStore, JSONRPCMessage } from "@modelcontextprotocol/server";

/** Events kept per session for `Last-Event-ID` resumption; the oldest go first. */
const MAX_EVENTS = 1000;

/**
 * The session's resumption log: every SSE event the session sent, by id, so that a client whose stream broke
 * can reconnect with `Last-Event-ID` and get what it missed on that stream. Event ids name their stream.
 * It lives in the session object's memory, which stays loaded while any of its streams is open.
 */
export class MemoryEventStore implements EventStore {
  private readonly events = new Map<string, { streamId: string; message: JSONRPCMessage }>();
  private next = 0;

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const eventId = `${streamId}_${++this.next}`;
    this.events.set(eventId, { streamId, message });
    if (this.events.size > MAX_EVENTS) this.events.delete(this.events.keys().next().value as string);
    return eventId;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.events.get(eventId)?.streamId ?? streamOf(eventId);
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const streamId = this.events.get(lastEventId)?.streamId ?? streamOf(lastEventId);
    if (!streamId) return "";
    let after = !this.events.has(lastEventId);
    for (const [eventId, event] of this.events) {
      if (after && event.streamId === streamId) await send(eventId, event.message);
      if (eventId === lastEventId) after = true;
    }
    return streamId;
  }
}

const streamOf = (eventId: string) => eventId.slice(0, Math.max(0, eventId.lastIndexOf("_"))) || undefined;
