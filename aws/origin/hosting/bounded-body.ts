/** The default bound on one message from an upstream: the MCP SDK's own bound on a stdio line, for every transport. */
export const DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/** The setting that moves the bound, named in what the caller and the log are told. */
export const MAX_MESSAGE_SETTING = "relay.maxUpstreamMessageMiB";

const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 100) / 100} MiB`;

/**
 * An upstream sent one message (a whole HTTP body, one SSE event, one stdio line) larger than the origin reads: it is
 * dropped, the connection closed as broken, and the caller told why, since waiting on it would hold the memory of the
 * whole origin (every user's calls and children) for one answer.
 */
export class UpstreamMessageTooLarge extends Error {
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`the upstream server sent a message over the ${mib(limitBytes)} the origin reads (${MAX_MESSAGE_SETTING})`);
    this.name = "UpstreamMessageTooLarge";
    this.limitBytes = limitBytes;
  }
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Counts an SSE stream's bytes since its last event boundary (a blank line; CRLF, LF and CR all end lines), so a
 * stream may live for days while no one event grows past the bound.
 */
function eventCounter(): (chunk: Uint8Array) => number {
  let size = 0;
  let lineEmpty = true;
  let afterCR = false;
  return (chunk) => {
    for (const byte of chunk) {
      if (byte === LF && afterCR) {
        afterCR = false;
        continue;
      }
      afterCR = byte === CR;
      if (byte === LF || byte === CR) {
        if (lineEmpty) size = 0;
        else size++;
        lineEmpty = true;
      } else {
        lineEmpty = false;
        size++;
      }
    }
    return size;
  };
}

function bodyCounter(): (chunk: Uint8Array) => number {
  let size = 0;
  return (chunk) => {
    size += chunk.byteLength;
    return size;
  };
}

export const isEventStream = (response: Response) =>
  response.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() === "text/event-stream";

/**
 * The response with its body bounded as it is read: an event stream per event, anything else (JSON, an error page, a
 * body whose Content-Type lies) whole. Counted on the body fetch hands over, so a compressed body counts inflated.
 * Past the bound the upstream's body is cancelled, the body errors with UpstreamMessageTooLarge, and `overflowed` is
 * told (once).
 */
export function boundedResponse(
  response: Response,
  limitBytes: number,
  overflowed: (error: UpstreamMessageTooLarge) => void,
): Response {
  if (!response.body || NULL_BODY_STATUSES.has(response.status)) return response;
  const count = isEventStream(response) ? eventCounter() : bodyCounter();
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      if (count(value) <= limitBytes) return controller.enqueue(value);
      const error = new UpstreamMessageTooLarge(limitBytes);
      reader.cancel(error).catch(() => {});
      controller.error(error);
      overflowed(error);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return withBody(response, body);
}

/** `response` with another body: its status and headers, and what the SDK reads of a redirect it does not follow. */
export function withBody(response: Response, body: ReadableStream<Uint8Array>): Response {
  const replaced = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  // Where a redirect pointed, which a new Response would forget.
  for (const key of ["url", "redirected", "type"] as const) Object.defineProperty(replaced, key, { value: response[key] });
  return replaced;
}

/** Statuses a Response cannot be made with a body for. */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);
