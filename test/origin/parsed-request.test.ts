import { describe, expect, it } from "vitest";
import { parseRequestBody } from "../../aws/origin/hosting/parsed-request.ts";

// The origin reads a POST's JSON-RPC body once, with or without a Content-Length, up to the SDK handler's bound.
const post = (body: BodyInit, headers: Record<string, string> = {}) =>
  new Request("http://origin.test/servers/x/mcp", { method: "POST", headers, body, duplex: "half" } as RequestInit);
const streamed = (chunks: Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });

describe("parseRequestBody", () => {
  it("parses a body without a Content-Length (a stream) as one with it", async () => {
    const message = { jsonrpc: "2.0", id: 1, method: "subscriptions/listen", params: {} };
    const bytes = new TextEncoder().encode(JSON.stringify(message));
    expect((await parseRequestBody(post(streamed([bytes.slice(0, 5), bytes.slice(5)])))).parsedBody).toEqual(message);
  });

  it("leaves a body over the handler's bound to the handler, every byte of it", async () => {
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    const parsed = await parseRequestBody(post(streamed([chunk, chunk, chunk, chunk, chunk])));
    expect(parsed.parsedBody).toBeUndefined();
    expect((await parsed.request.arrayBuffer()).byteLength).toBe(5 * 1024 * 1024);
  });

  it("leaves a body that is not JSON to the handler, as it came", async () => {
    const parsed = await parseRequestBody(post("not json", { "content-length": "8" }));
    expect(parsed.parsedBody).toBeUndefined();
    expect(await parsed.request.text()).toBe("not json");
  });
});
