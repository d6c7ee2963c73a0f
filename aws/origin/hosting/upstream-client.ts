import { Client, type ClientCapabilities, type Transport } from "@modelcontextprotocol/client";

const CLIENT_INFO = { name: "mcp-edge-proxy-origin", version: "0.2.0" };

/**
 * What the origin declares to every upstream: everything a client may support. The upstream connection is
 * shared by all of one user's MCP clients, and a 2025-era upstream hears capabilities once, at `initialize`;
 * each request is then gated against what ITS client declared (an ask the client cannot answer is refused
 * with -32021 at the origin, and a modern upstream is told the caller's own capabilities per request).
 */
export const PROXY_CLIENT_CAPABILITIES: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: { listChanged: true },
};

/** Server-to-client methods a 2025-era upstream may send mid-call; each becomes an input request. */
export const UPSTREAM_ASK_METHODS = ["sampling/createMessage", "elicitation/create", "roots/list"] as const;

/** Notifications an upstream sends outside any request, and what the origin does with them. */
export const UPSTREAM_EVENT_METHODS = [
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/resources/list_changed",
  "notifications/resources/updated",
] as const;
export type UpstreamEventMethod = (typeof UPSTREAM_EVENT_METHODS)[number];

export interface UpstreamCallbacks {
  /** A server-to-client request: resolves with the client's answer, rejects if no client request can carry it. */
  ask(method: string, params: unknown): Promise<unknown>;
  /** A log message (`notifications/message`) for whichever requests are in flight. */
  log(params: { level: string; data?: unknown; logger?: string }): void;
  event(method: UpstreamEventMethod, params: Record<string, unknown> | undefined): void;
  /**
   * `notifications/elicitation/complete` (2025-11-25): the out-of-band step a URL elicitation sent the user to is
   * done. Relayed like a log message, to whichever requests are in flight.
   */
  elicitationComplete(params: Record<string, unknown>): void;
  /** A progress notification, routed by the token the origin put on the request. */
  progress(params: { progressToken?: unknown; progress: number; total?: number; message?: string }): void;
}

/**
 * Connects an SDK client to an upstream and negotiates its era (`server/discover` first, the 2025 handshake
 * if the upstream does not speak 2026-07-28; the 2025 handshake only, for a 2025-era client). Input-required results are handed back, never fulfilled here:
 * the calling client answers them.
 */
export async function connectUpstream(
  transport: Transport,
  clientEra: "modern" | "legacy",
  deadline: { signal: AbortSignal; probeTimeoutMs: number },
  callbacks: UpstreamCallbacks,
): Promise<Client> {
  const client = new Client(CLIENT_INFO, {
    capabilities: PROXY_CLIENT_CAPABILITIES,
    // For a 2025-era client, the upstream is spoken to as that client would: an upstream serving both eras then
    // behaves as it would for the client directly (its 2025-style requests to the client included).
    versionNegotiation: { mode: clientEra === "legacy" ? "legacy" : "auto", probe: { timeoutMs: deadline.probeTimeoutMs } },
    inputRequired: { autoFulfill: false },
  });
  for (const method of UPSTREAM_ASK_METHODS) {
    client.setRequestHandler(method, (request) => callbacks.ask(method, request.params) as never);
  }
  client.setNotificationHandler("notifications/message", (notification) => callbacks.log(notification.params));
  client.setNotificationHandler("notifications/progress", (notification) => callbacks.progress(notification.params));
  client.setNotificationHandler("notifications/elicitation/complete", (notification) =>
    callbacks.elicitationComplete(notification.params),
  );
  for (const method of UPSTREAM_EVENT_METHODS) {
    client.setNotificationHandler(method, (notification) =>
      callbacks.event(method, notification.params as Record<string, unknown> | undefined),
    );
  }
  await client.connect(transport, { signal: deadline.signal });
  // A 2025-era upstream filters its log messages by one session-wide level; let everything through and
  // filter per request at the origin, where each request's own level is known.
  if (client.getProtocolEra() === "legacy" && client.getServerCapabilities()?.logging) {
    await client.setLoggingLevel("debug").catch(() => {});
  }
  return client;
}
