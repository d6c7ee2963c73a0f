import { deserializeMessage, type JSONRPCMessage, ReadBuffer } from "@modelcontextprotocol/client";
import type { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const NEWLINE = 0x0a;

/**
 * The SDK's stdio reader, in linear time: a message is kept as the chunks it arrived in, each chunk searched once for
 * its end, and joined once whole. The SDK's own (2.4.0) joins the whole buffer again for each 64 KB chunk and searches
 * it from the start, so a message costs the square of its size: a 9 MiB answer took 1.8 s of the origin's one event
 * loop, every user's calls waiting (s28 limits hunt L4). Same contract: messages one per line, a line that is not JSON
 * skipped, a message larger than `maxBufferSize` refused with the SDK's error (the origin logs it by that text).
 */
export class LinearReadBuffer extends ReadBuffer {
  readonly #maxBytes: number;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #lines: Buffer[] = [];

  constructor(maxBufferSize: number) {
    super({ maxBufferSize });
    this.#maxBytes = maxBufferSize;
  }

  override append(chunk: Buffer): void {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      this.#complete(chunk.subarray(start, end));
      start = end + 1;
    }
    const rest = chunk.subarray(start);
    if (this.#partialBytes + rest.length > this.#maxBytes) this.#refuse();
    if (rest.length > 0) {
      this.#partial.push(rest);
      this.#partialBytes += rest.length;
    }
  }

  override readMessage(): JSONRPCMessage | null {
    for (let line = this.#lines.shift(); line !== undefined; line = this.#lines.shift()) {
      try {
        return deserializeMessage(line.toString("utf8").replace(/\r$/, ""));
      } catch (error) {
        if (!(error instanceof SyntaxError)) throw error;
      }
    }
    return null;
  }

  override clear(): void {
    this.#partial = [];
    this.#partialBytes = 0;
    this.#lines = [];
  }

  #complete(end: Buffer): void {
    if (this.#partialBytes + end.length > this.#maxBytes) this.#refuse();
    this.#lines.push(this.#partial.length === 0 ? end : Buffer.concat([...this.#partial, end]));
    this.#partial = [];
    this.#partialBytes = 0;
  }

  #refuse(): never {
    this.clear();
    throw new Error(`ReadBuffer exceeded maximum size of ${this.#maxBytes} bytes`);
  }
}

/** Gives a stdio transport the linear reader (the SDK keeps its reader in a private field, set in its constructor). */
export function withLinearReader(transport: StdioClientTransport, maxBufferSize: number): StdioClientTransport {
  const fields = transport as unknown as { _readBuffer?: ReadBuffer };
  if (!(fields._readBuffer instanceof ReadBuffer)) {
    throw new Error("the MCP SDK's StdioClientTransport no longer keeps its reader in _readBuffer: update stdio-read-buffer.ts");
  }
  fields._readBuffer = new LinearReadBuffer(maxBufferSize);
  return transport;
}
