/**
 * The bytes of an upstream's log and progress messages one response may hold unread: the edge's bound on what it
 * queues for a 2024-11-05 client that reads slowly. The SDK queues each message in the response stream whether or
 * not it is read, so an upstream that writes faster than its client reads would otherwise grow the origin without end.
 */
export const MAX_UNREAD_OUTPUT_BYTES = 4 * 1024 * 1024;

/** What each message adds on the wire beyond its params: the SSE event and the JSON-RPC envelope around them. */
const FRAMING_BYTES = 120;

/**
 * One response's log and progress messages against what its client has read of it. Past the bound, messages are
 * dropped (and counted; `dropping` is told once), never queued: a message lost is better than the origin lost.
 */
export class UnreadOutput {
  #queued = 0;
  #read = 0;
  #behind = false;
  dropped = 0;
  readonly #limit: number;
  readonly #log: (line: string) => void;

  /** `log` is told when dropping begins, and how many were dropped once the response ends. */
  constructor(log: (line: string) => void, limit = MAX_UNREAD_OUTPUT_BYTES) {
    this.#log = log;
    this.#limit = limit;
  }

  /** Whether a message with these params may be queued now (then it counts as queued); false: drop it. */
  admit(params: unknown): boolean {
    const bytes = FRAMING_BYTES + Buffer.byteLength(JSON.stringify(params) ?? "");
    if (this.#queued - this.#read + bytes > this.#limit) {
      this.#behind = true;
      if (this.dropped++ === 0)
        this.#log(
          `a client reads its answer slower than the upstream sends log and progress messages: past ${this.#limit / 1024 / 1024} MiB unread they are dropped`,
        );
      return false;
    }
    this.#queued += bytes;
    this.#behind = false;
    return true;
  }

  /**
   * Whether the client has stopped keeping up: the last message was dropped and it has read nothing since. What the
   * upstream sends then reaches no one, so it is no sign the call is alive to anyone waiting on it.
   */
  get behind(): boolean {
    return this.#behind;
  }

  /** The client read these bytes of the response (its answer and keep-alives too, hence the bound at what was queued). */
  read(bytes: number): void {
    if (bytes > 0) this.#behind = false;
    this.#read = Math.min(this.#queued, this.#read + bytes);
  }

  /** The response with what its client reads counted: it is read from the SDK's stream only as the client reads. */
  measure(response: Response): Response {
    if (!response.body) return response;
    const reader = response.body.getReader();
    const ended = () => {
      if (this.dropped > 0)
        this.#log(`${this.dropped.toLocaleString("en-US")} log and progress messages were dropped for that client`);
    };
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const { done, value } = await reader.read();
        if (done) {
          ended();
          return controller.close();
        }
        this.read(value.byteLength);
        controller.enqueue(value);
      },
      cancel: (reason) => {
        ended();
        return reader.cancel(reason);
      },
    });
    return new Response(body, response);
  }
}
