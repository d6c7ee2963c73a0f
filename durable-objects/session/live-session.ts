import { type JSONRPCMessage, type Server, WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/server";
import type { StorageEventStore } from "../../worker/mcp/bridge/event-store.ts";
import { withIncarnationIds } from "../../worker/mcp/bridge/incarnation-ids.ts";
import type { SessionRecord } from "../../worker/mcp/bridge/session-record.ts";

/** What a 2025-11-25 client is told to wait before reconnecting a stream that ended early. */
const RECONNECT_AFTER_MS = 1000;

/** A 2025-era session in memory: its record, and the server and transport that speak the 2025 protocol to its client. */
export interface LiveSession {
  record: SessionRecord;
  server: Server;
  transport: WebStandardStreamableHTTPServerTransport;
  /** The transport's resumption log. */
  events: StorageEventStore;
}

export interface SessionHooks {
  /** The transport sends `message`, the answer to request `id`. */
  answered: (id: string | number, message: JSONRPCMessage) => void;
  /** The session server for the session in `live`. */
  server: (live: LiveSession) => Server;
}

/** The SDK's Streamable HTTP transport for `record`'s session, its log in `events`, connected to its session server. */
export async function assembleSession(
  record: SessionRecord,
  events: StorageEventStore,
  hooks: SessionHooks,
): Promise<LiveSession> {
  const transport = withIncarnationIds(
    new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => record.sessionId,
      eventStore: events,
      // 2025-11-25 clients reconnect after this long when a stream ends early (SSE polling).
      retryInterval: RECONNECT_AFTER_MS,
    }),
  );
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if (!("method" in message) && "id" in message && message.id !== undefined) hooks.answered(message.id, message);
    return send(message, options);
  };
  const live = { record, transport, events } as LiveSession;
  live.server = hooks.server(live);
  await live.server.connect(transport);
  return live;
}

/** Replays the client's stored handshake to a fresh transport, as after eviction; throws when it is refused. */
export async function replayHandshake(transport: WebStandardStreamableHTTPServerTransport, record: SessionRecord): Promise<void> {
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
}
