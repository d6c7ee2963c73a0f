import { createParser } from "eventsource-parser";
import { ANSWER_OUTCOME_HEADER, outcomeOfAnswer, parseAnswerOutcome } from "../../contract/answer-outcome.ts";
import type { AuditOutcome } from "../../contract/audit-event.ts";
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
export async function observeResponse(response: Response, requestId: string | number | undefined): Promise<Observed> {
  if (!response.body || requestId === undefined) {
    return { response, observed: Promise.resolve({ outcome: outcomeOfStatus(response.status), responseBytes: 0 }) };
  }
  const isSse = response.headers.get("content-type")?.includes("text/event-stream") ?? false;
  if (!isSse) return observeLabelledBody(response) ?? observeWholeBody(response, requestId);
  let found: Found | undefined;
  let responseBytes = 0;
  let settle: (observation: Observation) => void = () => {};
  const observed = new Promise<Observation>((resolve) => {
    settle = resolve;
  });
  const finish = () => {
    settle({ ...(found ?? { outcome: response.status >= 400 ? outcomeOfStatus(response.status) : "error" }), responseBytes });
  };
  const decoder = new TextDecoder();
  const sse = createParser({
    onEvent: (event) => {
      found ??= outcomeOfAnswer(event.data, requestId);
      if (found) finish();
    },
  });
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        // The origin broke the stream: answer the request if nobody has.
        if (!found) controller.enqueue(brokenStreamError(requestId));
        found ??= { outcome: "unavailable" };
        finish();
        controller.close();
        return;
      }
      if (chunk.done) {
        if (!found) controller.enqueue(brokenStreamError(requestId));
        finish();
        controller.close();
        return;
      }
      if (!found) {
        responseBytes += chunk.value.byteLength;
        sse.feed(decoder.decode(chunk.value, { stream: true }));
      }
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
  return { response: new Response(body, response), observed };
}

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
async function observeWholeBody(response: Response, requestId: string | number): Promise<Observed> {
  let bytes: ArrayBuffer;
  try {
    bytes = await response.arrayBuffer();
  } catch {
    const broken = new Response(brokenJsonError(requestId), { status: 502, headers: { "content-type": "application/json" } });
    return { response: broken, observed: Promise.resolve({ outcome: "unavailable", responseBytes: 0 }) };
  }
  const found = outcomeOfAnswer(new TextDecoder().decode(bytes), requestId) ?? {
    outcome: response.status >= 400 ? outcomeOfStatus(response.status) : ("error" as const),
  };
  return { response: new Response(bytes, response), observed: Promise.resolve({ ...found, responseBytes: bytes.byteLength }) };
}

function brokenStreamError(requestId: string | number): Uint8Array {
  return new TextEncoder().encode(`event: message\ndata: ${brokenJsonError(requestId)}\n\n`);
}

function brokenJsonError(requestId: string | number): string {
  const message = "the origin's answer broke off before it was complete; try again";
  return JSON.stringify({ jsonrpc: "2.0", id: requestId, error: { code: JSON_RPC.upstreamUnavailable, message } });
}

function outcomeOfStatus(status: number): AuditOutcome {
  if (status === 502 || status === 503 || status === 504) return "unavailable";
  if (status === 401 || status === 403) return "denied";
  return status >= 400 ? "error" : "ok";
}
