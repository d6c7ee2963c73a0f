/** What both tiers read of a JSON-RPC message's ids: which requests a body carries, which one it cancels. */

export type RequestId = string | number;

export type CancelledNotification = { method?: unknown; params?: { requestId?: unknown; reason?: unknown } };

const isRequestId = (id: unknown): id is RequestId => typeof id === "string" || typeof id === "number";

export const isRequest = (message: Record<string, unknown>): message is { id: RequestId; method: string } =>
  typeof message.method === "string" && isRequestId(message.id);

/** The ids of the requests in a parsed body (one message, or a 2025-03-26 batch). */
export function requestIdsOf(body: unknown): RequestId[] {
  return [body]
    .flat()
    .filter((message): message is Record<string, unknown> => typeof message === "object" && message !== null)
    .filter(isRequest)
    .map((message) => message.id);
}

/** The id a `notifications/cancelled` cancels, if the parsed `body` is one. */
export function cancelledRequestId(body: unknown): RequestId | undefined {
  const message = body as CancelledNotification | undefined;
  if (message?.method !== "notifications/cancelled") return undefined;
  const id = message.params?.requestId;
  return isRequestId(id) ? id : undefined;
}
