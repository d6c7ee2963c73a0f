import { createParser } from "eventsource-parser";
import type { AuditOutcome } from "../../contract/audit-event.ts";

export interface Observation {
  outcome: AuditOutcome;
  errorCode?: number;
  responseBytes: number;
}

/**
 * Watches a response on its way to the client and reports how the request ended, without delaying a byte of it:
 * the body is teed, and the copy is read until the JSON-RPC response with the request's id appears
 * (as a JSON body, or as an event on an SSE stream).
 */
export function observeResponse(
  response: Response,
  requestId: string | number | undefined,
): { response: Response; observed: Promise<Observation> } {
  if (!response.body || requestId === undefined) {
    return { response, observed: Promise.resolve({ outcome: outcomeOfStatus(response.status), responseBytes: 0 }) };
  }
  const [toClient, toObserver] = response.body.tee();
  const isSse = response.headers.get("content-type")?.includes("text/event-stream") ?? false;
  return {
    response: new Response(toClient, response),
    observed: readOutcome(toObserver, isSse, requestId, response.status),
  };
}

async function readOutcome(
  stream: ReadableStream<Uint8Array>,
  isSse: boolean,
  requestId: string | number,
  status: number,
): Promise<Observation> {
  let found: Omit<Observation, "responseBytes"> | undefined;
  let responseBytes = 0;
  let json = "";
  const decoder = new TextDecoder();
  const sse = createParser({
    onEvent: (event) => {
      found ??= outcomeOfMessage(event.data, requestId);
    },
  });
  const reader = stream.getReader();
  try {
    while (!found) {
      const { done, value } = await reader.read();
      if (done) break;
      responseBytes += value.byteLength;
      const text = decoder.decode(value, { stream: true });
      if (isSse) sse.feed(text);
      else json += text;
    }
  } catch {
    // The client went away or the origin broke the stream: what was seen so far is all there is.
  } finally {
    reader.cancel().catch(() => {});
  }
  if (!isSse) found ??= outcomeOfMessage(json, requestId);
  // No answer to this request in the body: the origin failed it (or the stream broke off).
  return { ...(found ?? { outcome: status >= 400 ? outcomeOfStatus(status) : "error" }), responseBytes };
}

function outcomeOfMessage(data: string, requestId: string | number): Omit<Observation, "responseBytes"> | undefined {
  let message: { id?: unknown; result?: { isError?: unknown }; error?: { code?: unknown } };
  try {
    message = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (message?.id !== requestId) return undefined;
  if (message.error)
    return { outcome: "error", errorCode: typeof message.error.code === "number" ? message.error.code : undefined };
  if (message.result?.isError === true) return { outcome: "tool_error" };
  return { outcome: "ok" };
}

function outcomeOfStatus(status: number): AuditOutcome {
  if (status === 502 || status === 503 || status === 504) return "unavailable";
  if (status === 401 || status === 403) return "denied";
  return status >= 400 ? "error" : "ok";
}
