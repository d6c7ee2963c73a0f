import { type JSONRPCMessage, ReadBuffer } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LinearReadBuffer, withLinearReader } from "../../aws/origin/hosting/stdio-read-buffer.ts";

// The origin's reader of a stdio child's stdout (s28 limits hunt L4): the SDK's contract, in linear time.

afterEach(() => vi.restoreAllMocks());

const line = (message: JSONRPCMessage) => `${JSON.stringify(message)}\n`;
const ping = (id: number): JSONRPCMessage => ({ jsonrpc: "2.0", id, method: "ping" });

/** Everything a reader gives for these chunks, read after each as the transport does. */
function readAll(reader: ReadBuffer, chunks: readonly Buffer[]): JSONRPCMessage[] {
  const messages: JSONRPCMessage[] = [];
  for (const chunk of chunks) {
    reader.append(chunk);
    for (let message = reader.readMessage(); message !== null; message = reader.readMessage()) messages.push(message);
  }
  return messages;
}

/** A stream cut into chunks at these sizes, in turn. */
function chunked(text: string, sizes: readonly number[]): Buffer[] {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let at = 0, turn = 0; at < bytes.length; turn++) {
    const size = sizes[turn % sizes.length] ?? 1;
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

describe("the origin's stdio reader", () => {
  it("gives what the SDK's reader gives, however the stream is cut: lines across chunks, several in one, CRLF, non-JSON lines skipped", () => {
    const stream = [
      line(ping(1)),
      "a server's stray line, not JSON\n",
      `${JSON.stringify({ jsonrpc: "2.0", id: 2, result: { text: "é ✓ ".repeat(50) } })}\r\n`,
      line(ping(3)),
    ].join("");
    for (const sizes of [[1], [7, 3], [64], [4096], [5, 200, 1]]) {
      const chunks = chunked(stream, sizes);
      const expected = readAll(new ReadBuffer({ maxBufferSize: 1 << 20 }), chunks);
      expect(expected.map((message) => (message as { id: number }).id)).toEqual([1, 2, 3]);
      expect(readAll(new LinearReadBuffer(1 << 20), chunks), `chunks of ${sizes}`).toEqual(expected);
    }
  });

  it("refuses a message larger than its bound with the SDK's error, whether it ends in that chunk or not, and starts clean", () => {
    const big = line({ jsonrpc: "2.0", id: 1, result: { text: "x".repeat(2000) } });
    const reader = new LinearReadBuffer(1000);
    expect(() => reader.append(Buffer.from(big))).toThrow("ReadBuffer exceeded maximum size of 1000 bytes");
    expect(() => readAll(reader, chunked(big, [400]))).toThrow("ReadBuffer exceeded maximum size of 1000 bytes");
    expect(readAll(reader, [Buffer.from(line(ping(2)))])).toEqual([ping(2)]);
  });

  it("joins a message once, when it is whole, not again for every chunk (the SDK's reader: once per chunk)", () => {
    const message = { jsonrpc: "2.0" as const, id: 9, result: { text: "y".repeat(4 * 1024 * 1024) } };
    const chunks = chunked(line(message), [64 * 1024]);
    const concat = vi.spyOn(Buffer, "concat");
    expect(readAll(new LinearReadBuffer(10 * 1024 * 1024), chunks)).toEqual([message]);
    expect(concat).toHaveBeenCalledTimes(1);
  });

  it("is the reader of the origin's stdio transports", () => {
    const transport = withLinearReader(new StdioClientTransport({ command: "true" }), 1024);
    expect((transport as unknown as { _readBuffer: unknown })._readBuffer).toBeInstanceOf(LinearReadBuffer);
  });
});
