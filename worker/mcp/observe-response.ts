import { createParser } from "eventsource-parser";
import { ANSWER_OUTCOME_HEADER, outcomeOfAnswer, parseAnswerOutcome } from "../../contract/answer-outcome.ts";
import type { AuditOutcome } from "../../contract/audit-event.ts";
import { jsonOrUndefined } from "../http/json-or-undefined.ts";
import { JSON_RPC } from "./json-rpc-error.ts";

export interface Observation {
  outcome: AuditOutcome;
  errorCode?: number;
  responseBytes: number;
}

type Found = Omit<Observation, "responseBytes">;

/** The response to relay, and how the request ended once that is known. */
interface Observed {
  response: Response;
  observed: Promise<Observation>;
}

/**
 * Relays a response to the client unchanged while reading how the request ended: the JSON-RPC answer with the
 * request's id, as a JSON body or as an event of an SSE stream. An SSE stream is read in passing (parsing stops once
 * the answer has passed); if it ends or breaks before the answer (the origin died mid-call), the client gets a
 * JSON-RPC error for the request at once, instead of waiting for its own timeout.
 */
export async function observeResponse(
  response: Response,
  requestId: string | number | undefined,
  method?: string,
): Promise<Observed> {
  const byStatus = () => ({
    response,
    observed: Promise.resolve({ outcome: outcomeOfStatus(response.status), responseBytes: 0 }),
  });
  // A refusal of a request without a readable id (malformed JSON) still carries its JSON-RPC error, under id null.
  if (!response.body || (requestId === undefined && response.status < 400)) return byStatus();
  const isSse = response.headers.get("content-type")?.includes("text/event-stream") ?? false;
  if (!isSse) return observeLabelledBody(response) ?? observeWholeBody(response, requestId);
  if (requestId === undefined) return byStatus();
  let found: Found | undefined;
  let settle: (observation: Observation) => void = () => {};
  const observed = new Promise<Observation>((resolve) => {
    settle = resolve;
  });
  const listens = method === LISTEN;
  const relayed = relayWatchedSse(response, {
    event: (data, responseBytes) => {
      // A listen is answered only when its stream ends (hours later, or never if the invocation is torn down): it is
      // audited once the origin acknowledged it, ok, with the latency until then. The stream is watched on, so that
      // one ending without its answer still gets the client its error.
      if (listens && isAcknowledgement(data)) settle({ outcome: "ok", responseBytes });
      found = outcomeOfAnswer(data, requestId);
      return found !== undefined;
    },
    ended: () => brokenStreamError([requestId]),
    done: (responseBytes, end) => settle({ ...(found ?? unanswered(response.status, end)), responseBytes }),
  });
  return { response: relayed, observed };
}

/** How each message of a JSON-RPC batch ended, by its id (none, or an unknown one: by the response's status). */
export type BatchObservation = (id: string | number | undefined) => Observation;

/**
 * `observeResponse` for a batch (2025-03-26): the answers to each of `requestIds`, in a JSON array or as SSE events.
 * Every request still unanswered when a stream ends or breaks gets its JSON-RPC error at once. Each observation
 * carries the whole response's size.
 */
export async function observeBatch(
  response: Response,
  requestIds: readonly (string | number)[],
): Promise<{ response: Response; observed: Promise<BatchObservation> }> {
  const found = new Map<string | number, Found>();
  const complete =
    (responseBytes: number, end: StreamEnd): BatchObservation =>
    (id) => {
      if (id === undefined || !requestIds.includes(id)) return { outcome: outcomeOfStatus(response.status), responseBytes };
      return { ...(found.get(id) ?? unanswered(response.status, end)), responseBytes };
    };
  const record = (message: unknown) => {
    const id = (message as { id?: unknown } | null)?.id;
    const outcome =
      (typeof id === "string" || typeof id === "number") && requestIds.includes(id) && outcomeOfAnswer(message as object);
    if (outcome) found.set(id as string | number, outcome);
  };
  if (!response.body || requestIds.length === 0) return { response, observed: Promise.resolve(complete(0, "ended")) };
  if (!(response.headers.get("content-type")?.includes("text/event-stream") ?? false)) {
    const bytes = await response.arrayBuffer().catch(() => undefined);
    if (!bytes) {
      const errors = `[${requestIds.map(brokenJsonError).join(",")}]`;
      const broken = new Response(errors, { status: 502, headers: { "content-type": "application/json" } });
      return { response: broken, observed: Promise.resolve(complete(0, "broken")) };
    }
    const answers = jsonOrUndefined(new TextDecoder().decode(bytes));
    for (const message of Array.isArray(answers) ? answers : [answers]) record(message);
    return { response: new Response(bytes, response), observed: Promise.resolve(complete(bytes.byteLength, "ended")) };
  }
  let settle: (observation: BatchObservation) => void = () => {};
  const observed = new Promise<BatchObservation>((resolve) => {
    settle = resolve;
  });
  const relayed = relayWatchedSse(response, {
    event: (data) => {
      record(jsonOrUndefined(data));
      return found.size === requestIds.length;
    },
    ended: () => brokenStreamError(requestIds.filter((id) => !found.has(id))),
    done: (responseBytes, end) => settle(complete(responseBytes, end)),
  });
  return { response: relayed, observed };
}

/** A 2026-07-28 listen for list changes and resource updates, and the notification that says it is in place. */
const LISTEN = "subscriptions/listen";
const ACKNOWLEDGED = "notifications/subscriptions/acknowledged";
const isAcknowledgement = (data: string) =>
  data.includes(ACKNOWLEDGED) && (jsonOrUndefined(data) as { method?: unknown } | undefined)?.method === ACKNOWLEDGED;

/** How a relayed stream stopped before its answer: it ended, the origin broke it, or the client cancelled it. */
type StreamEnd = "ended" | "broken" | "cancelled";

/** What to do with an SSE stream's events while it is relayed. */
interface SseWatch {
  /** One event's data (and the bytes read until it); true once nothing more need be read. */
  event(data: string, responseBytes: number): boolean;
  /** The stream ended or broke before `event` said so: the events to send the client before its end. */
  ended(): Uint8Array;
  /** Watching stopped (all found, or the stream stopped as `end` says), with the bytes read until then. */
  done(responseBytes: number, end: StreamEnd): void;
}

/** The SSE response as the client gets it: the same bytes, read in passing until `watch` has what it needs. */
function relayWatchedSse(response: Response, watch: SseWatch): Response {
  let watching = true;
  let responseBytes = 0;
  const stop = (end: StreamEnd) => {
    if (!watching) return;
    watching = false;
    watch.done(responseBytes, end);
  };
  const decoder = new TextDecoder();
  const sse = createParser({
    onEvent: (event) => {
      if (watching && watch.event(event.data, responseBytes)) stop("ended");
    },
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const endEarly = (controller: ReadableStreamDefaultController<Uint8Array>, end: "ended" | "broken") => {
    if (watching) controller.enqueue(watch.ended());
    stop(end);
    controller.close();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        // The origin broke the stream: answer what nobody has.
        return endEarly(controller, "broken");
      }
      if (chunk.done) return endEarly(controller, "ended");
      if (watching) {
        responseBytes += chunk.value.byteLength;
        sse.feed(decoder.decode(chunk.value, { stream: true }));
      }
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      stop("cancelled");
      return reader.cancel(reason);
    },
  });
  return new Response(body, response);
}

/** The outcome of a request whose answer never came: the stream broke, the client cancelled it, or it just ended. */
const unanswered = (status: number, end: StreamEnd): Found => ({
  outcome: end === "ended" ? (status >= 400 ? outcomeOfStatus(status) : "error") : OUTCOME_OF_STOP[end],
});
const OUTCOME_OF_STOP = { broken: "unavailable", cancelled: "cancelled" } as const;

/**
 * A JSON answer the origin labelled with its outcome (it held the answer whole): relayed as it is, never read here.
 */
function observeLabelledBody(response: Response): Observed | undefined {
  const labelled = parseAnswerOutcome(response.headers.get(ANSWER_OUTCOME_HEADER));
  if (!labelled) return undefined;
  const responseBytes = Number(response.headers.get("content-length") ?? 0) || 0;
  return { response, observed: Promise.resolve({ ...labelled, responseBytes }) };
}

/**
 * A JSON answer is one message: read whole (it is small) before it is relayed, so that the outcome is known
 * whether or not the client reads it, and the bytes go back as they are, without a stream written in JavaScript.
 */
async function observeWholeBody(response: Response, requestId: string | number | undefined): Promise<Observed> {
  let bytes: ArrayBuffer;
  try {
    bytes = await response.arrayBuffer();
  } catch {
    const broken = new Response(brokenJsonError(requestId), { status: 502, headers: { "content-type": "application/json" } });
    return { response: broken, observed: Promise.resolve({ outcome: "unavailable", responseBytes: 0 }) };
  }
  const text = new TextDecoder().decode(bytes);
  const found = (requestId !== undefined ? outcomeOfAnswer(text, requestId) : undefined) ??
    (response.status >= 400 ? refusalOutcome(text, response.status) : undefined) ?? {
      outcome: response.status >= 400 ? outcomeOfStatus(response.status) : ("error" as const),
    };
  return { response: new Response(bytes, response), observed: Promise.resolve({ ...found, responseBytes: bytes.byteLength }) };
}

/**
 * A refusal before the request was read answers id null: the origin refusing a whole server, or a body that is not
 * JSON. It is the origin's own answer (it labels every answer of an upstream, an upstream's own -32000 error included,
 * which stays `error`): at 502, 503 or 504 it says the upstream could not be reached (it could not be started, its
 * circuit is open, the pool of connections is full) or the origin's database did not answer, so `unavailable`, as a
 * left-out server of the aggregated endpoint is, with its JSON-RPC code kept.
 */
function refusalOutcome(text: string, status: number): Found | undefined {
  const refusal = outcomeOfAnswer(text, null);
  if (refusal?.outcome !== "error" || outcomeOfStatus(status) !== "unavailable") return refusal;
  return { ...refusal, outcome: "unavailable" };
}

function brokenStreamError(requestIds: readonly (string | number)[]): Uint8Array {
  return new TextEncoder().encode(requestIds.map((id) => `event: message\ndata: ${brokenJsonError(id)}\n\n`).join(""));
}

function brokenJsonError(requestId: string | number | undefined): string {
  const message = "the origin's answer broke off before it was complete; try again";
  return JSON.stringify({ jsonrpc: "2.0", id: requestId ?? null, error: { code: JSON_RPC.upstreamUnavailable, message } });
}

function outcomeOfStatus(status: number): AuditOutcome {
  if (status === 502 || status === 503 || status === 504) return "unavailable";
  if (status === 401 || status === 403) return "denied";
  return status >= 400 ? "error" : "ok";
}
