import { createParser } from "eventsource-parser";
import { cancelledRequestId, type RequestId, requestIdsOf } from "../../../contract/json-rpc-ids.ts";
import { isEventStream, withBody } from "./bounded-body.ts";

/** A POST's JSON-RPC body, parsed; undefined if it is not JSON. */
function parsed(body: unknown): unknown {
  if (typeof body !== "string") return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** The ids of the requests a POST's body carries (one message or a batch); none for anything else. */
export const requestIdsIn = (body: unknown): Set<RequestId> => new Set(requestIdsOf(parsed(body)));

/** The request a POST's body cancels (`notifications/cancelled`), if it is one: its stream may end unanswered. */
export const cancelledIn = (body: unknown): RequestId | undefined =>
  typeof body === "string" && body.includes("notifications/cancelled") ? cancelledRequestId(parsed(body)) : undefined;

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
      for (const id of answeredIds(event.data)) unanswered.delete(id);
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

/** The ids of the JSON-RPC responses an event carries (one, or a batch). */
function answeredIds(data: string): RequestId[] {
  return [parsed(data)]
    .flat()
    .filter((message): message is { id?: unknown } => typeof message === "object" && message !== null && !("method" in message))
    .map((message) => message.id)
    .filter((id): id is RequestId => typeof id === "string" || typeof id === "number");
}
