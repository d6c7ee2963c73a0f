import { describe, expect, it } from "vitest";
import { SseServerTransport, type UnreadLimits } from "../../worker/mcp/bridge/sse-transport.ts";

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

describe("a 2024-11-05 stream its client does not read", () => {
  const message = (id: number) => ({
    jsonrpc: "2.0" as const,
    id,
    result: { content: [{ type: "text", text: "x".repeat(200) }] },
  });
  const unread = (limits: UnreadLimits) => {
    const transport = new SseServerTransport("s", "/mcp/everything?sessionId=s", limits);
    const ended = new Promise<void>((resolve) => {
      transport.onclose = resolve;
    });
    return { transport, ended };
  };

  it("ends once more than the limit waits unread, so the session holds no more of it", async () => {
    const { transport, ended } = unread({ maxUnreadBytes: 1000, maxStallMs: 60_000 });
    const waiting = transport.answerTo(4);
    for (let id = 1; id <= 5; id++) void transport.send(message(id));
    await ended;
    expect(await waiting).toBeUndefined(); // its audit is recorded as a request whose stream ended first
    expect(transport.answerTo(6)).toBeUndefined();
  });

  it("ends once nothing has been read for the stall limit while something waits", async () => {
    const { transport, ended } = unread({ maxUnreadBytes: 1_000_000, maxStallMs: 50 });
    void transport.send(message(1));
    const started = Date.now();
    await ended;
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("never ends a stream its client reads, however long nothing is sent", async () => {
    const transport = new SseServerTransport("s", "/mcp/everything?sessionId=s", { maxUnreadBytes: 1000, maxStallMs: 50 });
    void transport.response.body?.pipeTo(new WritableStream());
    let ended = false;
    transport.onclose = () => {
      ended = true;
    };
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let id = 1; id <= 20; id++) await transport.send(message(id)); // 20 × 250 bytes, each read as it comes
    expect(ended).toBe(false);
    await transport.close();
  });

  it("writes one answer larger than the limit to a client that reads, and goes on", async () => {
    const transport = new SseServerTransport("s", "/mcp/everything?sessionId=s", { maxUnreadBytes: 1000, maxStallMs: 60_000 });
    const received: Uint8Array[] = [];
    void transport.response.body?.pipeTo(new WritableStream({ write: (chunk) => void received.push(chunk) }));
    const big = { jsonrpc: "2.0" as const, id: 1, result: { content: [{ type: "text", text: "x".repeat(5000) }] } };
    const answered = transport.answerTo(1);
    await transport.send(big);
    expect(await answered).toEqual(big);
    await transport.send(message(2));
    expect(transport.answerTo(3)).toBeDefined(); // still open
    const text = new TextDecoder().decode(Buffer.concat(received));
    expect(text).toContain("x".repeat(5000));
    await transport.close();
  });
});
