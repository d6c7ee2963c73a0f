import type { EdgeAssertionClaims } from "../../../contract/edge-assertion.ts";
import { exchangeWithOrigin, type OriginLink } from "./origin-exchange.ts";
import type { SessionRecord } from "./session-record.ts";
import { sessionEnvelope } from "./session-server.ts";

const SUBSCRIPTION_ID_KEY = "io.modelcontextprotocol/subscriptionId";

export interface ListNotification {
  method: string;
  params?: Record<string, unknown>;
}

/** The lists an upstream may say changed: its capability, the 2026-07-28 listen filter, the 2025 notification. */
const LISTS = [
  { capability: "tools", filter: "toolsListChanged", method: "notifications/tools/list_changed" },
  { capability: "prompts", filter: "promptsListChanged", method: "notifications/prompts/list_changed" },
  { capability: "resources", filter: "resourcesListChanged", method: "notifications/resources/list_changed" },
] as const;

const changingLists = (record: SessionRecord) =>
  LISTS.filter(({ capability }) => record.discover.capabilities[capability]?.listChanged);

/** Whether the session has anything to listen for: a list the upstream may change, or a subscribed resource. */
export const hasAnythingToListenFor = (record: SessionRecord): boolean =>
  changingLists(record).length > 0 || record.subscriptions.length > 0;

/** Every notification the session could have missed: each list that may change, each subscribed resource. */
function everyChangeOf(record: SessionRecord): ListNotification[] {
  return [
    ...changingLists(record).map(({ method }) => ({ method })),
    ...record.subscriptions.map((uri) => ({ method: "notifications/resources/updated", params: { uri } })),
  ];
}

/**
 * Announces every change the session could have missed (`everyChangeOf`), one after the other; a failure is logged
 * under `what`, never thrown: the listen goes on.
 */
export function announceEveryChange(
  record: SessionRecord,
  deliver: (notification: ListNotification) => Promise<void>,
  what: string,
): void {
  everyChangeOf(record)
    .reduce((sent, change) => sent.then(() => deliver(change)), Promise.resolve())
    .catch((error: unknown) => console.error(`${what} could not be announced: ${String(error)}`));
}

/**
 * Holds the origin's `subscriptions/listen` stream open for a session's GET stream, asking for every kind of
 * notification the upstream can send and the resources the session subscribed to, and hands each notification
 * on (without the 2026-07-28 acknowledgement and subscription id, which a 2025-era client has no use for).
 * `acknowledged` runs once the origin listens. Returns at once when there is nothing to listen for.
 */
export async function listenToOrigin(
  origin: OriginLink,
  record: SessionRecord,
  claims: EdgeAssertionClaims,
  signal: AbortSignal,
  deliver: (notification: ListNotification) => Promise<void>,
  acknowledged: () => void = () => {},
): Promise<void> {
  if (!hasAnythingToListenFor(record)) return;
  const notifications = {
    ...Object.fromEntries(changingLists(record).map(({ filter }) => [filter, true])),
    ...(record.subscriptions.length > 0 && { resourceSubscriptions: record.subscriptions }),
  };
  const request = { id: "listen", method: "subscriptions/listen", params: { _meta: sessionEnvelope(record), notifications } };
  for await (const message of exchangeWithOrigin(origin, record.identity.server, claims, request, signal)) {
    if (message.method === "notifications/subscriptions/acknowledged") acknowledged();
    if (!message.method || message.method === "notifications/subscriptions/acknowledged") continue;
    const { _meta, ...params } = message.params ?? {};
    const { [SUBSCRIPTION_ID_KEY]: _subscription, ...meta } = (_meta ?? {}) as Record<string, unknown>;
    await deliver({ method: message.method, params: Object.keys(meta).length > 0 ? { ...params, _meta: meta } : params });
  }
}
