import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstreamHost, type UpstreamHost } from "../../aws/origin/hosting/upstream-host.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// What an upstream answers reaches the client as the upstream wrote it: the origin's per-request server (the SDK's
// McpServer) neither reshapes a tool's result nor turns one its schema does not know into an error (s22 hunt
// "faithful" F2). The upstream is a raw stdio server that writes each answer byte for byte as the call asks.

const RAW_UPSTREAM = fileURLToPath(new URL("../fixtures/raw-upstream/server.mjs", import.meta.url));
const ALICE = { sub: "alice", server: "raw", clientId: "test-client", era: "modern" as const };

let host: UpstreamHost;
beforeAll(async () => {
  const spec = UpstreamServer.parse({ transport: "stdio", command: process.execPath, args: [RAW_UPSTREAM] });
  host = await startUpstreamHost(spec, { ...testHostOptions, log: () => {} }, ALICE);
});
afterAll(() => host?.close());

type Message = { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };
/** The final message of a call of the raw upstream's `raw` tool, which answers `text` as its result. */
async function rawResult(text: string): Promise<Message> {
  const request = modernRequest("tools/call", { name: "raw", arguments: { text } });
  const messages = (await messagesOf(await host.fetch(request, ALICE))) as Message[];
  return messages.find((message) => "result" in message || "error" in message) as Message;
}

describe("a tool's result, as the upstream wrote it", () => {
  it("keeps a content block's fields the SDK's schema does not name", async () => {
    const answer = await rawResult('{"content":[{"type":"text","text":"x","lang":"en","_meta":{"k":1}}]}');
    expect(answer.error).toBeUndefined();
    expect(answer.result?.content).toEqual([{ type: "text", text: "x", lang: "en", _meta: { k: 1 } }]);
  });

  it.each([
    ["a content type of a newer revision", '{"content":[{"type":"video","url":"https://example.com/v.mp4"}]}'],
    ["a text block without text", '{"content":[{"type":"text"}]}'],
    ["an audience the SDK does not know", '{"content":[{"type":"text","text":"x","annotations":{"audience":["robot"]}}]}'],
    ["an isError that is not a boolean", '{"content":[{"type":"text","text":"x"}],"isError":"yes"}'],
  ])("relays %s rather than answering -32602", async (_case, text) => {
    const answer = await rawResult(text);
    expect(answer.error).toBeUndefined();
    const { resultType: _complete, _meta: _serverInfo, ...result } = answer.result ?? {};
    expect(result).toEqual(JSON.parse(text));
  });

  it("gives a result without content an empty one, as the SDK does (a 2025-era client's schema requires it)", async () => {
    const answer = await rawResult('{"structuredContent":{"n":1}}');
    expect(answer.result).toMatchObject({ structuredContent: { n: 1 }, content: [] });
  });
});

/** The request line the raw upstream received for `request` (its `echoreq` tool and `resources/read` answer with it). */
async function lineReceived(request: Request): Promise<string> {
  const messages = (await messagesOf(await host.fetch(request, ALICE))) as Message[];
  const result = messages.at(-1)?.result as { content?: { text: string }[]; contents?: { text: string }[] } | undefined;
  return (result?.content ?? result?.contents)?.[0]?.text ?? "";
}

// A request's params reach the upstream as the client sent them, fields the SDK's schema does not name included
// (s22 hunt "faithful" F4); not `task`, since the proxy relays no upstream's tasks capability.
describe("a request's params, as the client sent them", () => {
  it("passes a tool call's vendor params to the upstream", async () => {
    const request = modernRequest("tools/call", { name: "echoreq", arguments: { a: 1 }, "x-vendor": { v: 1 } });
    const line = JSON.parse(await lineReceived(request));
    expect(line.params).toMatchObject({ name: "echoreq", arguments: { a: 1 }, "x-vendor": { v: 1 } });
  });

  it("passes a read's vendor params to the upstream", async () => {
    const line = JSON.parse(await lineReceived(modernRequest("resources/read", { uri: "raw://a", "x-vendor": 2 })));
    expect(line.params).toMatchObject({ uri: "raw://a", "x-vendor": 2 });
  });

  it("does not pass a task, which would begin one the client cannot follow through the proxy", async () => {
    const request = modernRequest("tools/call", { name: "echoreq", arguments: {}, task: { ttl: 60_000 } });
    const line = JSON.parse(await lineReceived(request));
    expect(line.params).not.toHaveProperty("task");
    expect(line.params.name).toBe("echoreq");
  });
});

// docs/era-mapping.md ("Numbers are JavaScript doubles at every hop") says what the origin's hop does to a number beyond
// double precision; this pins it, so that the docs change with it (s22 hunt "faithful" F3).
describe("numbers beyond double precision, as docs/era-mapping.md describes them", () => {
  it("rounds them in a tool's arguments on the way to the upstream", async () => {
    const request = modernRequest("tools/call", { name: "echoreq", arguments: { n: 1 } });
    const body = (await request.text()).replace('"n":1', '"n":9007199254740993,"h":1e400,"f":1.0');
    const exact = new Request(request.url, { method: "POST", headers: request.headers, body });
    const messages = (await messagesOf(await host.fetch(exact, ALICE))) as Message[];
    const content = messages.at(-1)?.result?.content as { text: string }[] | undefined;
    const line = content?.[0]?.text ?? "";
    expect(line).toContain('"arguments":{"n":9007199254740992,"h":null,"f":1}');
  });

  it("rounds them in a tool's result on the way to the client", async () => {
    const request = modernRequest("tools/call", {
      name: "raw",
      arguments: { text: '{"content":[],"structuredContent":{"big":12345678901234567890,"huge":1e400,"tiny":1e-400}}' },
    });
    const text = await (await host.fetch(request, ALICE)).text();
    expect(text).toContain('"structuredContent":{"big":12345678901234567000,"huge":null,"tiny":0}');
  });
});
