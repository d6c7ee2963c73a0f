import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { StorageEventStore } from "../../worker/mcp/bridge/event-store.ts";
import type { SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import { GET_STREAM_ID, type OpenedStream, WATCH_CLOSE, type WatchMessage } from "../../worker/mcp/bridge/stream-watch.ts";

/**
 * A 2025-era session's side of its client's GET stream, which the Worker invocation that received the GET holds
 * (worker/mcp/bridge/stream-watch.ts): the event log a resuming client reads, and the hibernatable WebSocket to that
 * invocation, over which the object says what changed.
 */
export class GetStream {
  readonly #ctx: DurableObjectState;
  /** The subscriptions the latest GET stream was opened with, as JSON. */
  #openedWith?: string;

  constructor(ctx: DurableObjectState) {
    this.#ctx = ctx;
  }

  /** The session's event log, in storage: the transport's resumption log, and the GET stream's. */
  events(): StorageEventStore {
    return new StorageEventStore(this.#ctx.storage.kv);
  }

  /** The stream opens with `record`, or resumes after `lastEventId` with the events the client missed. */
  async opened(record: SessionRecord, lastEventId?: string): Promise<OpenedStream> {
    this.#openedWith = JSON.stringify(record.subscriptions);
    const replay: OpenedStream["replay"] = [];
    if (lastEventId) {
      await this.events().replayEventsAfter(lastEventId, {
        send: async (id, message) => void replay.push({ id, message }),
      });
    }
    return { record, replay, announce: lastEventId !== undefined };
  }

  /** Logs a notification the Worker is about to write on the stream; its event id. */
  log(message: JSONRPCMessage): Promise<string> {
    return this.events().storeEvent(GET_STREAM_ID, message);
  }

  /**
   * Accepts the WebSocket of the invocation that holds the newest stream, for hibernation; one stream per session: a
   * client opens a new one when it believes the old one dead, and the old one is closed.
   */
  watch(subscriptionsNow: () => string[]): Response {
    for (const older of this.#ctx.getWebSockets()) older.close(WATCH_CLOSE.replaced.code, WATCH_CLOSE.replaced.reason);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.#ctx.acceptWebSocket(server);
    // Subscriptions changed between the stream's opening and this watch reached only the stream it replaced.
    const subscriptions = subscriptionsNow();
    if (this.#openedWith !== undefined && JSON.stringify(subscriptions) !== this.#openedWith)
      server.send(JSON.stringify({ subscriptions } satisfies WatchMessage));
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Tells every watching stream; one closing (replaced by a newer GET) cannot keep the others from hearing. */
  tell(message: WatchMessage): void {
    for (const socket of this.#ctx.getWebSockets()) {
      try {
        socket.send(JSON.stringify(message));
      } catch {
        // Closing: the runtime still lists it until the close is answered.
      }
    }
  }

  /** The session ended: each invocation ends its client's stream. */
  endAll(): void {
    for (const socket of this.#ctx.getWebSockets()) socket.close(WATCH_CLOSE.ended.code, WATCH_CLOSE.ended.reason);
  }
}
