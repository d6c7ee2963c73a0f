import { createParser } from "eventsource-parser";
import { isEventStream, withBody } from "./bounded-body.ts";

type RequestId = string | number;

/** The request a POST's body cancels (`notifications/cancelled`), if it is one: its stream may end unanswered. */
export function cancelledIdOf(body: unknown): RequestId | undefined {
  if (typeof body !== "string" || !body.includes("notifications/cancelled")) return undefined;
  try {
    const message = JSON.parse(body) as { method?: unknown; params?: { requestId?: unknown } };
    const id = message.method === "notifications/cancelled" ? message.params?.requestId : undefined;
    return typeof id === "string" || typeof id === "number" ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The ids of the requests a POST's JSON-RPC body carries (one message or a batch); none for anything else. */
export const requestIdsOf = (body: unknown): Set<RequestId> => new Set(typeof body === "string" ? idsIn(body, "requests") : []);

/**
 * A POST's event-stream answer, watched for the answers to the requests it carried (`ids`). If the stream ends or
 * breaks before all of them came, with no event id the SDK could resume it from, `brokenOff` is told (once): the SDK's
 * client would wait on those requests until their timeout (minutes), though the upstream will never answer them on
 * this stream (it restarted, or a proxy cut the connection). Anything else passes through untouched.
 */
export function watchedAnswer(
  response: Response,
  ids: ReadonlySet<RequestId>,
  brokenOff: (unanswered: ReadonlySet<RequestId>) => void,
): Response {
  if (!response.body || ids.size === 0 || !isEventStream(response)) return response;
  const unanswered = new Set(ids);
  let resumable = false;
  const parser = createParser({
    onEvent: (event) => {
      if (event.id) resumable = true;
      for (const id of idsIn(event.data, "responses")) unanswered.delete(id);
    },
  });
  const decoder = new TextDecoder();
  const check = () => {
    if (unanswered.size > 0 && !resumable) brokenOff(unanswered);
  };
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await reader.read().catch((error: unknown) => {
        check();
        throw error;
      });
      if (chunk.done) {
        check();
        return controller.close();
      }
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      controller.enqueue(chunk.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return withBody(response, body);
}

/** The ids of the JSON-RPC requests, or responses, in `text` (one message or a batch); none if it is not JSON. */
function idsIn(text: string, kind: "requests" | "responses"): RequestId[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  return [parsed]
    .flat()
    .filter(
      (message): message is { id?: unknown } =>
        typeof message === "object" && message !== null && "method" in message === (kind === "requests"),
    )
    .map((message) => message.id)
    .filter((id): id is RequestId => typeof id === "string" || typeof id === "number");
}
