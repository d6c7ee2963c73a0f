import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstreamHost, type UpstreamHost } from "../../aws/origin/hosting/upstream-host.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// A 2025-era upstream heard at `initialize` that its client supports roots, sampling and elicitation (the proxy
// declares every client's), and may ask for them at any time, not only while a call of its own is in flight: servers
// that scope themselves by the client's roots ask right after `notifications/initialized`. Between calls no client
// request can carry the question, and the upstream is told "method not found", as a client without that capability
// would say (which servers handle), not -32603, an internal error that reads as the client breaking (s22 hunt
// "faithful" F10).

const RAW_UPSTREAM = fileURLToPath(new URL("../fixtures/raw-upstream/server.mjs", import.meta.url));
const ALICE = { sub: "alice", server: "raw", clientId: "test-client", era: "legacy" as const };
const CLIENT = { roots: { listChanged: true }, sampling: {}, elicitation: { form: {}, url: {} } };

let host: UpstreamHost;
let shared: UpstreamHost;
beforeAll(async () => {
  const spec = UpstreamServer.parse({ transport: "stdio", command: process.execPath, args: [RAW_UPSTREAM] });
  host = await startUpstreamHost(spec, { ...testHostOptions, log: () => {} }, ALICE);
  shared = await startUpstreamHost(spec, { ...testHostOptions, log: () => {}, shared: true }, ALICE);
});
afterAll(() => Promise.all([host?.close(), shared?.close()]));

async function callTool(name: string, args: Record<string, unknown> = {}, on = host): Promise<Record<string, unknown>> {
  const messages = await messagesOf(
    await on.fetch(modernRequest("tools/call", { name, arguments: args }, { capabilities: CLIENT }), ALICE),
  );
  const answer = messages.find((message) => "result" in message || "error" in message);
  return answer?.result as Record<string, unknown>;
}

/** The upstream's own lines it received answers to, by the id it gave its request. */
async function answersHeard(on = host): Promise<Map<unknown, { result?: unknown; error?: { code: number; message: string } }>> {
  const result = await callTool("heard", {}, on);
  const lines = JSON.parse((result.content as { text: string }[])[0]?.text ?? "[]") as string[];
  return new Map(lines.map((line) => JSON.parse(line)).map((message) => [message.id, message]));
}

describe("an upstream's question to the client between calls", () => {
  it("is answered 'method not found' for roots/list, sampling/createMessage and elicitation/create", async () => {
    const asks = {
      "roots-between": '{"jsonrpc":"2.0","id":"roots-between","method":"roots/list","params":{}}',
      "sampling-between":
        '{"jsonrpc":"2.0","id":"sampling-between","method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"hi"}}],"maxTokens":5}}',
      "elicitation-between":
        '{"jsonrpc":"2.0","id":"elicitation-between","method":"elicitation/create","params":{"message":"name?","requestedSchema":{"type":"object","properties":{}}}}',
    };
    const called = await callTool("notify", { after: Object.values(asks), afterMs: 50 });
    expect(called.content).toEqual([{ type: "text", text: "notified" }]);
    await new Promise((resolve) => setTimeout(resolve, 500));

    const answers = await answersHeard();
    for (const id of Object.keys(asks)) {
      expect(answers.get(id)?.result, id).toBeUndefined();
      expect(answers.get(id)?.error?.code, id).toBe(-32601);
      expect(answers.get(id)?.error?.message, id).toMatch(/no client request is in progress through the proxy/);
    }
  });

  it("is answered 'method not found' on a shared connection, during a call too: no user's client may be asked", async () => {
    const ask = '{"jsonrpc":"2.0","id":"roots-shared","method":"roots/list","params":{}}';
    await callTool("notify", { lines: [ask] }, shared);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const answer = (await answersHeard(shared)).get("roots-shared");
    expect(answer?.error?.code).toBe(-32601);
    expect(answer?.error?.message).toMatch(/a shared upstream \(sharing: "shared"\) cannot send roots\/list/);
  });
});
