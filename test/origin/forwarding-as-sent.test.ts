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
