import type { JSONRPCMessage, Transport } from "@modelcontextprotocol/server";
import { JSON_RPC } from "../json-rpc-error.ts";

/** A comment on the stream this often, so that proxies that cut idle streams leave it open. */
export const KEEPALIVE_MS = 15_000;

/**
 * A client that stops reading its stream while messages wait for it: its writes never fail, so without these the
 * session object would hold every message it is sent, and live on, for as long as the connection stays open. The
 * stream (and with it the session) ends once this much waits unread, or once nothing has been read for this long while
 * something waits; the client opens a new session, as after any dropped stream.
 */
export interface UnreadLimits {
  maxUnreadBytes: number;
  maxStallMs: number;
}
export const UNREAD_LIMITS: UnreadLimits = { maxUnreadBytes: 4 * 1024 * 1024, maxStallMs: 120_000 };

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
  private readonly limits: UnreadLimits;
  /** Bytes written whose writes the reader has not taken yet. */
  private unreadBytes = 0;
  /** Whether the reader took a write since the last tick, and for how many ticks in a row it took none while some waited. */
  private readSinceTick = false;
  private stalledTicks = 0;

  constructor(sessionId: string, postUrl: string, limits: UnreadLimits = UNREAD_LIMITS) {
    this.sessionId = sessionId;
    this.limits = limits;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    this.writer = writable.getWriter();
    this.response = new Response(readable, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform" },
    });
    void this.write(`event: endpoint\ndata: ${postUrl}\n\n`);
    // Counted in ticks, not by the clock: a Worker's clock stands still between its I/O events.
    const tickMs = Math.min(KEEPALIVE_MS, this.limits.maxStallMs);
    this.keepalive = setInterval(() => {
      this.stalledTicks = this.unreadBytes > 0 && !this.readSinceTick ? this.stalledTicks + 1 : 0;
      this.readSinceTick = false;
      if (this.stalledTicks * tickMs >= this.limits.maxStallMs)
        void this.end(`the client read nothing of its stream for ${this.limits.maxStallMs / 1000} s`);
      else void this.write(": keepalive\n\n");
    }, tickMs);
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

  /** How many of the client's requests wait for their answer on this stream: its calls in flight. */
  get answersAwaited(): number {
    return this.awaited.size;
  }

  /**
   * Answers the client's request `id`, which it cancelled, if its answer is still awaited. The SDK's server answers
   * nothing to a cancelled request, so its audit (held until the answer is sent) would wait for the stream's end,
   * hours later or never. The error, which the client that cancelled ignores, records it as cancelled at once.
   */
  async answerCancelled(id: string | number): Promise<void> {
    if (!this.awaited.has(id)) return;
    await this.send({ jsonrpc: "2.0", id, error: { code: JSON_RPC.requestCancelled, message: "cancelled by the client" } });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    for (const resolve of this.awaited.values()) resolve(undefined);
    this.awaited.clear();
    // Not awaited: closing waits until the client has read what waits, which a client that stopped reading never does.
    void this.writer.close().catch(() => {});
    this.onclose?.();
  }

  private async write(text: string): Promise<void> {
    if (this.closed) return;
    const bytes = this.encoder.encode(text);
    // The bound is for a client that stopped reading, so it is on what waits already: a message larger than it is
    // written (it is in memory anyway), or one big answer would end the session of a client reading as fast as it can.
    if (this.unreadBytes > this.limits.maxUnreadBytes)
      return this.end(`more than ${this.limits.maxUnreadBytes} bytes waited unread on the client's stream`);
    this.unreadBytes += bytes.byteLength;
    try {
      await this.writer.write(bytes);
      this.readSinceTick = true;
    } catch (error) {
      // The client went away: the session is over (said once, whatever else was waiting to be written).
      const open = !this.closed;
      await this.close();
      if (open) this.onerror?.(error as Error);
    } finally {
      this.unreadBytes -= bytes.byteLength;
    }
  }

  /** Ends a stream the client does not read: what waits for it is dropped with it. */
  private async end(why: string): Promise<void> {
    console.warn(`a 2024-11-05 session's stream was ended: ${why}`);
    // Not awaited: an abort waits for the write in flight, which waits for a reader that never comes.
    void this.writer.abort(new Error(why)).catch(() => {});
    await this.close();
    this.onerror?.(new Error(why));
  }
}
