import { describe, expect, it } from "vitest";
import { SseServerTransport } from "../../worker/mcp/bridge/sse-transport.ts";

// A 2024-11-05 session's stream: its session object audits each request once the answer has been sent on it.

/** A transport whose stream a client reads (the stream's writes wait for a reader). */
function openTransport(): SseServerTransport {
  const transport = new SseServerTransport("s", "/mcp/everything?sessionId=s");
  void transport.response.body?.pipeTo(new WritableStream());
  return transport;
}

describe("awaiting a request's answer on a 2024-11-05 stream", () => {
  it("gives the answer sent for that id, and nothing for a stream that ends first", async () => {
    const transport = openTransport();
    const first = transport.answerTo(1);
    const second = transport.answerTo("b");
    await transport.send({ jsonrpc: "2.0", id: 1, result: { content: [] } });
    expect(await first).toEqual({ jsonrpc: "2.0", id: 1, result: { content: [] } });
    await transport.close();
    expect(await second).toBeUndefined();
    expect(transport.answerTo(2)).toBeUndefined();
  });

  it("declines a second wait on an id in flight, so that neither request's audit is lost", async () => {
    const transport = openTransport();
    const call = transport.answerTo(1);
    expect(transport.answerTo(1)).toBeUndefined();
    await transport.close();
    expect(await call).toBeUndefined();
  });
});
