import { CLIENT_CAPABILITIES_META_KEY } from "@modelcontextprotocol/server";
import type { Caller } from "./upstream-host.ts";

type Params = Record<string, unknown>;

/** 2025-11-25's word that the step a URL-mode elicitation sent the user to is done. */
export const ELICITATION_COMPLETE = "notifications/elicitation/complete";

/**
 * Whether a request is a listen whose client takes the upstream's `notifications/elicitation/complete`: a 2025-era
 * client's session listening on its GET stream (the session object writes what the listen brings to the stream as
 * it comes), which declared URL-mode elicitation. 2026-07-28 has no such notification, and the aggregated endpoint
 * merges its servers' listens into one of its own.
 */
export function takesElicitationCompleteOnListen(body: unknown, caller: Caller): boolean {
  const message = body as { method?: unknown; params?: { _meta?: Params } } | undefined;
  if (message?.method !== "subscriptions/listen" || caller.era !== "legacy" || caller.aggregated) return false;
  const capabilities = message.params?._meta?.[CLIENT_CAPABILITIES_META_KEY] as { elicitation?: { url?: unknown } } | undefined;
  return capabilities?.elicitation?.url !== undefined;
}

/**
 * A listen's SSE response, with room for messages the SDK's listen router cannot send (it carries only list changes
 * and resource updates): each is written as an event of its own, between the router's events, never inside one.
 */
export function withExtraEvents(response: Response): { response: Response; write(message: Params): void } {
  if (!response.body || !response.headers.get("content-type")?.includes("text/event-stream")) {
    return { response, write: () => {} };
  }
  const encoder = new TextEncoder();
  const waiting: string[] = [];
  let between = true;
  let ended = false;
  let out: TransformStreamDefaultController<Uint8Array> | undefined;
  const flush = () => {
    if (!between || ended || !out) return;
    const events = waiting.splice(0);
    try {
      for (const event of events) out.enqueue(encoder.encode(event));
    } catch {
      // The listen ended (its client went away) just now: what was for it goes nowhere, and nothing else fails.
      ended = true;
    }
  };
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(controller) {
        out = controller;
      },
      transform(chunk, controller) {
        controller.enqueue(chunk);
        // An event ends with a blank line; the router writes each of its events (and keep-alives) whole.
        between = chunk.length >= 2 && chunk[chunk.length - 1] === 10 && chunk[chunk.length - 2] === 10;
        flush();
      },
      flush() {
        ended = true;
      },
    }),
  );
  return {
    response: new Response(body, response),
    write(message) {
      waiting.push(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
      flush();
    },
  };
}
