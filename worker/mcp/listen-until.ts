/** Where the 2026-07-28 protocol puts a listen's id in the result that ends it. */
const SUBSCRIPTION_ID_KEY = "io.modelcontextprotocol/subscriptionId";

/**
 * A relayed 2026-07-28 `subscriptions/listen` whose stream ends by `until` (epoch seconds; undefined: no bound). The
 * origin authorizes a listen once, when it opens: without this, a user removed from a group, or whose token expired,
 * would go on hearing of the server's changes for as long as the stream stays open. At `until` the edge ends it as
 * the protocol lets a server end a listen: with the listen's result (its subscription id), after the origin's event
 * being written, if any. The client listens again, signed with fresh credentials, or is refused.
 */
export function listenUntil(response: Response, until: number | undefined, id: string | number | undefined): Response {
  const origin = response.body;
  if (until === undefined || !origin || !response.headers.get("content-type")?.startsWith("text/event-stream")) return response;
  const reader = origin.getReader();
  const decoder = new TextDecoder();
  const ended = `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id, result: { _meta: { [SUBSCRIPTION_ID_KEY]: id } } })}\n\n`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let due = false;
  // Whether what was relayed so far ends with a whole event: the result is never written into the middle of one.
  let betweenEvents = true;
  let tail = "";
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const close = (result: boolean) => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    if (result) controller.enqueue(new TextEncoder().encode(ended));
    controller.close();
    if (result) void reader.cancel("the listen's authorization lapsed").catch(() => {});
  };
  const body = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
      timer = setTimeout(
        () => {
          due = true;
          if (betweenEvents) close(true);
        },
        Math.max(0, until * 1000 - Date.now()),
      );
    },
    async pull() {
      const read = await reader.read();
      if (closed) return;
      if (read.done) return close(false);
      controller.enqueue(read.value);
      const text = decoder.decode(read.value, { stream: true });
      if (text.length > 0) {
        tail = (tail + text).slice(-4);
        betweenEvents = /\r?\n\r?\n$/.test(tail);
      }
      if (due && betweenEvents) close(true);
    },
    cancel(reason) {
      closed = true;
      clearTimeout(timer);
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
