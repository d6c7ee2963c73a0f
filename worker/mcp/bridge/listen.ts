import type { EdgeAssertionClaims } from "../../../contract/edge-assertion.ts";
import { exchangeWithOrigin, type OriginLink } from "./origin-exchange.ts";
import type { SessionRecord } from "./session-record.ts";
import { sessionEnvelope } from "./session-server.ts";

const SUBSCRIPTION_ID_KEY = "io.modelcontextprotocol/subscriptionId";

/**
 * Holds the origin's `subscriptions/listen` stream open for a session's GET stream, asking for every kind of
 * notification the upstream can send and the resources the session subscribed to, and hands each notification
 * on (without the 2026-07-28 acknowledgement and subscription id, which a 2025-era client has no use for).
 */
export async function listenToOrigin(
  origin: OriginLink,
  record: SessionRecord,
  claims: EdgeAssertionClaims,
  signal: AbortSignal,
  deliver: (notification: { method: string; params?: Record<string, unknown> }) => Promise<void>,
): Promise<void> {
  const capabilities = record.discover.capabilities;
  const notifications = {
    ...(capabilities.tools?.listChanged && { toolsListChanged: true }),
    ...(capabilities.prompts?.listChanged && { promptsListChanged: true }),
    ...(capabilities.resources?.listChanged && { resourcesListChanged: true }),
    ...(record.subscriptions.length > 0 && { resourceSubscriptions: record.subscriptions }),
  };
  if (Object.keys(notifications).length === 0) return;
  const request = { id: "listen", method: "subscriptions/listen", params: { _meta: sessionEnvelope(record), notifications } };
  for await (const message of exchangeWithOrigin(origin, record.identity.server, claims, request, signal)) {
    if (!message.method || message.method === "notifications/subscriptions/acknowledged") continue;
    const { _meta, ...params } = message.params ?? {};
    const { [SUBSCRIPTION_ID_KEY]: _subscription, ...meta } = (_meta ?? {}) as Record<string, unknown>;
    await deliver({ method: message.method, params: Object.keys(meta).length > 0 ? { ...params, _meta: meta } : params });
  }
}
