import { JSON_RPC } from "../../worker/mcp/json-rpc-error.ts";

type RequestId = string | number;

/** Where the request a POST's event stream answers is kept, by the stream's id, until its answer is sent. */
const KEY_PREFIX = "stream-request:";

/** A stream's first event (the SDK's priming event, which makes it resumable) names it: `id: <stream>_<sequence>`. */
const FIRST_EVENT_ID = /^id: (.+)_\d+$/m;

/**
 * Which request each resumable POST stream of the session answers, in storage until its answer is sent. A client that
 * resumes a stream (Last-Event-ID) after the object restarted (a deploy, a crash) finds nothing worked on and nothing
 * more logged: without this the object could not tell an answer that went out from a request lost with the earlier
 * incarnation, and answered 204, leaving the call to hang until the client's own timeout (s27 failure hunt F6).
 */
export class StreamRequests {
  readonly #storage: SyncKvStorage;

  constructor(storage: SyncKvStorage) {
    this.#storage = storage;
  }

  /** `body`, unchanged; its first event's stream is noted as answering `id` until `answered` settles. */
  noted(body: ReadableStream<Uint8Array>, id: RequestId, answered: Promise<unknown>): ReadableStream<Uint8Array> {
    let first = true;
    return body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) => {
          if (first) {
            first = false;
            const stream = FIRST_EVENT_ID.exec(new TextDecoder().decode(chunk))?.[1];
            if (stream !== undefined) {
              this.#storage.put(KEY_PREFIX + stream, id);
              void answered.finally(() => this.#storage.delete(KEY_PREFIX + stream));
            }
          }
          controller.enqueue(chunk);
        },
      }),
    );
  }

  /** The request whose answer `stream` carries, while that answer is not sent; undefined otherwise. */
  requestOf(stream: string | undefined): RequestId | undefined {
    return stream === undefined ? undefined : this.#storage.get<RequestId>(KEY_PREFIX + stream);
  }

  /**
   * The answer to a resume of `stream` whose request never got its answer (lost with an earlier incarnation): that
   * request's JSON-RPC error on a stream of its own, once; undefined when its answer went out (or it was never noted).
   */
  lostAnswer(stream: string | undefined): Response | undefined {
    if (stream === undefined) return undefined;
    const id = this.#storage.get<RequestId>(KEY_PREFIX + stream);
    if (id === undefined) return undefined;
    this.#storage.delete(KEY_PREFIX + stream);
    const error = {
      code: JSON_RPC.upstreamUnavailable,
      message: "the request was lost when the session restarted (a deploy or a crash) before its answer: send it again",
    };
    const event = `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id, error })}\n\n`;
    return new Response(event, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  }
}
