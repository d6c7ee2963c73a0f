import { EventSourceParserStream } from "eventsource-parser/stream";
import type { Aggregation } from "./aggregation.ts";
import type { Params } from "./messages.ts";
import { uriRouter } from "./route-by-uri.ts";

const ACKNOWLEDGED = "notifications/subscriptions/acknowledged";
const encoder = new TextEncoder();
const sse = (data: string) => encoder.encode(`event: message\ndata: ${data}\n\n`);

/**
 * `subscriptions/listen` on the aggregated endpoint: one listen per permitted server, merged into one stream, so a
 * list change on any server reaches the client. Resource subscriptions go to the server that serves each URI. The
 * client's stream acknowledges once; closing it closes every server's listen, and any server's listen ending ends it.
 */
export async function mergedListen(aggregation: Aggregation, keepAliveMs: number): Promise<Response> {
  const params = aggregation.message.params;
  const notifications = (params.notifications ?? {}) as Params;
  const byServer = await resourceSubscriptionsByServer(aggregation, notifications.resourceSubscriptions);
  const opened = await aggregation.collect("subscriptions/listen", async (server) => {
    const uris = byServer.get(server);
    const { resourceSubscriptions: _all, ...rest } = notifications;
    const response = await aggregation.forward(server, {
      ...params,
      notifications: { ...rest, ...(uris && { resourceSubscriptions: uris }) },
    });
    if (!response.ok || !response.body) throw new Error(`its listen answered ${response.status}`);
    return response.body;
  });
  const readers = [...opened.values()].map((stream) =>
    stream.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader(),
  );
  let acknowledged = false;
  let cancelled = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (readers.length === 0) {
        // Nothing to listen to, but the client's stream is still a listen: acknowledge it and hold it open.
        acknowledged = true;
        const meta = { "io.modelcontextprotocol/subscriptionId": aggregation.message.id };
        controller.enqueue(sse(JSON.stringify({ jsonrpc: "2.0", method: ACKNOWLEDGED, params: { notifications, _meta: meta } })));
      }
      if (keepAliveMs > 0) timer = setInterval(() => controller.enqueue(encoder.encode(": keep-alive\n\n")), keepAliveMs);
      // Each relay says, when its server's listen ends, whether that listen was watching anything.
      const relays = readers.map(async (reader) => {
        let watching = false;
        for (let next = await reader.read(); !next.done; next = await reader.read()) {
          if (isAcknowledgement(next.value.data)) {
            watching = honoursSomething(next.value.data);
            if (acknowledged) continue;
            acknowledged = true;
          }
          if (!cancelled) controller.enqueue(sse(next.value.data));
        }
        return watching;
      });
      // A server's listen that was watching and ends (its connection lost, the origin replacing it) ends the merged
      // stream: the client listens again, and that server's changes reach it again. Kept open, its changes would be
      // lost without a word. A server that watches none of what was asked ends its listen at once: that ends nothing.
      const watchedListenEnded = new Promise<void>((resolve) => {
        for (const relay of relays)
          relay.then(
            (watching) => watching && resolve(),
            () => resolve(),
          );
      });
      if (readers.length > 0)
        void watchedListenEnded.then(async () => {
          clearInterval(timer);
          if (cancelled) return;
          cancelled = true;
          await Promise.all(readers.map((reader) => reader.cancel("another server's listen ended").catch(() => {})));
          controller.close();
        });
    },
    cancel(reason) {
      cancelled = true;
      clearInterval(timer);
      return Promise.all(readers.map((reader) => reader.cancel(reason).catch(() => {}))).then(() => {});
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

/** Whether a server's acknowledgement honours any of the notifications asked for (none: its listen ends at once). */
function honoursSomething(data: string): boolean {
  try {
    const honoured = (JSON.parse(data) as { params?: { notifications?: Record<string, unknown> } }).params?.notifications;
    return Object.keys(honoured ?? {}).length > 0;
  } catch {
    return false;
  }
}

const isAcknowledgement = (data: string) => {
  if (!data.includes(ACKNOWLEDGED)) return false;
  try {
    return (JSON.parse(data) as { method?: unknown }).method === ACKNOWLEDGED;
  } catch {
    return false;
  }
};

/** Each watched URI to the server that serves it (ambiguous and unknown ones to none), the lists read once. */
async function resourceSubscriptionsByServer(aggregation: Aggregation, uris: unknown): Promise<Map<string, string[]>> {
  const byServer = new Map<string, string[]>();
  if (!Array.isArray(uris) || uris.length === 0) return byServer;
  const route = await uriRouter(aggregation);
  for (const uri of uris.filter((value): value is string => typeof value === "string")) {
    const routed = route(uri);
    if (routed && "server" in routed) byServer.set(routed.server, [...(byServer.get(routed.server) ?? []), uri]);
  }
  return byServer;
}
