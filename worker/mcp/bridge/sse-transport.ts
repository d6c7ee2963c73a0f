import type { JSONRPCMessage, Transport } from "@modelcontextprotocol/server";

/** A comment on the stream this often, so that proxies that cut idle streams leave it open. */
export const KEEPALIVE_MS = 15_000;

/**
 * The server side of the 2024-11-05 HTTP+SSE transport, for clients that speak nothing newer: the client GETs a
 * stream, the first event names the URL to POST its messages to, and every message from the server (answers
 * included) travels on that one stream. The session object holds the stream; the stream's end is the session's.
 */
export class SseServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly sessionId: string;
  /** The client's stream, the response to its GET. */
  readonly response: Response;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly encoder = new TextEncoder();
  private readonly keepalive: ReturnType<typeof setInterval>;
  /** Requests whose answers someone waits for (the audit), by id. */
  private readonly awaited = new Map<string | number, (answer: JSONRPCMessage | undefined) => void>();
  private closed = false;

  constructor(sessionId: string, postUrl: string) {
    this.sessionId = sessionId;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    this.writer = writable.getWriter();
    this.response = new Response(readable, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform" },
    });
    void this.write(`event: endpoint\ndata: ${postUrl}\n\n`);
    this.keepalive = setInterval(() => void this.write(": keepalive\n\n"), KEEPALIVE_MS);
  }

  async start(): Promise<void> {}

  /** A message the client POSTed. */
  receive(message: JSONRPCMessage): void {
    this.onmessage?.(message);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    await this.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
    const id = "id" in message && !("method" in message) ? message.id : undefined;
    if (id === undefined) return;
    this.awaited.get(id)?.(message);
    this.awaited.delete(id);
  }

  /**
   * The answer to the client's request `id` once it is sent on the stream (undefined if the stream ends first); or
   * undefined at once when the stream is closed or a request of that id is already awaited (a client reusing an id
   * in flight: its answer could be either's).
   */
  answerTo(id: string | number): Promise<JSONRPCMessage | undefined> | undefined {
    if (this.closed || this.awaited.has(id)) return undefined;
    return new Promise((resolve) => this.awaited.set(id, resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    for (const resolve of this.awaited.values()) resolve(undefined);
    this.awaited.clear();
    await this.writer.close().catch(() => {});
    this.onclose?.();
  }

  private async write(text: string): Promise<void> {
    if (this.closed) return;
    try {
      await this.writer.write(this.encoder.encode(text));
    } catch (error) {
      // The client went away: the session is over.
      await this.close();
      this.onerror?.(error as Error);
    }
  }
}
