import { type JSONRPCRequest, ProtocolError, type ServerContext } from "@modelcontextprotocol/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  exchangeWithOrigin,
  type JsonRpcMessage,
  MAX_ORIGIN_MESSAGE_BYTES,
  originLinkOf,
} from "../../worker/mcp/bridge/origin-exchange.ts";
import { claimsOf, type SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import { sessionServer } from "../../worker/mcp/bridge/session-server.ts";
import { testEnv } from "./edge-env.ts";

// A 2025-era session reads each message of the origin's answer whole: a message over MAX_ORIGIN_MESSAGE_BYTES is not
// read (the session object's memory is every session's of its user), and the request is answered with an error for its
// id instead, the session going on. A stand-in origin (the Worker's fetch, for its address only) answers too much.

const ORIGIN = "https://origin.answer-bound.test";
const record: SessionRecord = {
  sessionId: "b".repeat(43),
  identity: { sub: "alice", groups: [], clientId: "client-1", server: "everything" },
  initialize: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } },
  discover: { serverInfo: { name: "everything", version: "1" }, capabilities: { tools: {} } },
  subscriptions: [],
  createdAt: Date.now(),
};
const link = () => originLinkOf(testEnv({ ORIGIN_URL: ORIGIN }));

afterEach(() => vi.unstubAllGlobals());

/** The origin answers each request with what `answer` makes of its JSON-RPC id: a body and its content type. */
function standInOrigin(answer: (id: unknown) => { body: string; type: string }): void {
  const passThrough = globalThis.fetch;
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(ORIGIN)) return passThrough(input, init);
    const { body, type } = answer(((await request.json()) as { id: unknown }).id);
    return new Response(body, { headers: { "content-type": type } });
  });
}

const result = (id: unknown, text: string) =>
  JSON.stringify({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text }] } });
const json = (body: string) => ({ body, type: "application/json" });
const sse = (...events: string[]) => ({
  body: events.map((data) => `event: message\ndata: ${data}\n\n`).join(""),
  type: "text/event-stream",
});
const progress = JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1 } });
/** Text that makes a result just over the bound. */
const tooMuch = "x".repeat(MAX_ORIGIN_MESSAGE_BYTES);

async function messagesOf(id: string | number): Promise<JsonRpcMessage[]> {
  const messages: JsonRpcMessage[] = [];
  const request = { id, method: "tools/call", params: { name: "big" } };
  for await (const message of exchangeWithOrigin(
    link(),
    "everything",
    claimsOf(record.identity),
    request,
    new AbortController().signal,
  ))
    messages.push(message);
  return messages;
}

const tooLargeFor = (id: string | number) => ({
  jsonrpc: "2.0",
  id,
  error: { code: -32000, message: expect.stringMatching(/^the answer of server "everything" is larger than the 16 MiB/) },
});

describe("an answer of the origin larger than a session reads", () => {
  it("as one JSON body: is answered with an error for the request's id", async () => {
    standInOrigin((id) => json(result(id, tooMuch)));
    expect(await messagesOf(7)).toEqual([tooLargeFor(7)]);
  });

  it("as one SSE event: what came before it is relayed, then the error for the request's id", async () => {
    standInOrigin((id) => sse(progress, result(id, tooMuch)));
    const messages = await messagesOf("call-1");
    expect(messages).toEqual([JSON.parse(progress), tooLargeFor("call-1")]);
  });

  it("as many events, each within the bound: is read whole", async () => {
    const part = "y".repeat(MAX_ORIGIN_MESSAGE_BYTES / 2);
    standInOrigin((id) => sse(progress, progress.replace("}}", `,"message":"${part}"}}`), result(id, part)));
    const messages = await messagesOf(8);
    expect(messages).toHaveLength(3);
    expect(messages[2]).toMatchObject({ id: 8, result: { content: [{ text: part }] } });
  });

  it("fails only that request of the session: its client is told why, and the next request is answered", async () => {
    standInOrigin((id) => (id === 1 ? json(result(id, tooMuch)) : sse(result(id, "small"))));
    const server = sessionServer({
      origin: link(),
      record: () => record,
      claims: () => claimsOf(record.identity),
      save: () => {},
      subscriptionsChanged: () => {},
    });
    const ctx = { mcpReq: { signal: new AbortController().signal, notify: async () => {}, send: async () => ({}) } };
    const call = (id: number): Promise<unknown> => {
      const request: JSONRPCRequest = { jsonrpc: "2.0", id, method: "tools/call", params: { name: "big", arguments: {} } };
      return server.fallbackRequestHandler?.(request as never, ctx as unknown as ServerContext) as Promise<unknown>;
    };
    const refused = await call(1).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProtocolError);
    expect(refused).toMatchObject({ code: -32000, message: expect.stringContaining("larger than the 16 MiB") });
    expect(await call(2)).toMatchObject({ content: [{ type: "text", text: "small" }] });
  });
});
