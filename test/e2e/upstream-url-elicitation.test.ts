import { fileURLToPath } from "node:url";
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
  UnauthorizedError,
} from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// An upstream's JSON-RPC error -32042 (2025-11-25: "open this link first") through the whole local system, with real
// SDK clients of both eras (s22 hunt "faithful" F1): a client that can open links is asked to open the upstream's
// (a 2025-11-25 session by its session object, with elicitation/create), and its call runs once it has; a 2025-era
// client that cannot gets the -32042 with the links, as from the upstream directly. None gets -32603.

const RAW_UPSTREAM = fileURLToPath(new URL("../fixtures/raw-upstream/server.mjs", import.meta.url));
const LINK = { mode: "url", message: "Connect your Acme account", url: "https://acme.example/connect?s=1", elicitationId: "e-1" };
const LINK_ERROR = { code: -32042, message: "This request requires more information.", data: { elicitations: [LINK] } };

let system: Awaited<ReturnType<typeof startTestSystem>>;
const provider = new InMemoryOAuthProvider();
const url = () => new URL(`${system.edgeUrl}/mcp/raw`);
beforeAll(async () => {
  system = await startTestSystem({
    originFile: {
      path: "upstream links",
      content: { servers: { raw: { transport: "stdio", command: process.execPath, args: [RAW_UPSTREAM], env: {} } } },
    },
  });
  const client = new ClientV2({ name: "sign-in", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await expect(client.connect(new TransportV2(url(), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
  await new TransportV2(url(), { authProvider: provider }).finishAuth(await provider.signInHeadlessly());
});
afterAll(async () => {
  await system?.close();
});

let keys = 0;
/** A call the upstream answers with the -32042 the first time, and with a result once called again. */
const linkOnce = () => ({
  name: "erronce",
  arguments: {
    key: `e2e-${++keys}`,
    error: JSON.stringify(LINK_ERROR),
    text: '{"content":[{"type":"text","text":"connected"}]}',
  },
});
const textOf = (result: unknown) => (result as { content: { text: string }[] }).content[0]?.text;

describe("an upstream's -32042 through the edge", () => {
  it("asks a 2025-11-25 session (SDK v1) to open the link with elicitation/create, then runs the call", async () => {
    const client = new ClientV1({ name: "links-v1", version: "1" }, { capabilities: { elicitation: { url: {} } } });
    const asked: unknown[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params);
      return { action: "accept" };
    });
    await client.connect(new TransportV1(url(), { authProvider: provider as never }));
    expect(textOf(await client.callTool(linkOnce()))).toBe("connected");
    expect(asked).toEqual([LINK]);
    await client.close();
  });

  it("gives a 2025-era session that cannot open links (SDK v1) the upstream's -32042 with its links", async () => {
    const client = new ClientV1({ name: "no-links-v1", version: "1" }, { capabilities: { elicitation: { form: {} } } });
    await client.connect(new TransportV1(url(), { authProvider: provider as never }));
    const refused = await client.callTool(linkOnce()).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: -32042, data: { elicitations: [LINK] } });
    await client.close();
  });

  it("asks a 2026-07-28 client (SDK v2) in an input_required round, then runs the call", async () => {
    const client = new ClientV2(
      { name: "links-v2", version: "1" },
      { versionNegotiation: { mode: "auto" }, capabilities: { elicitation: { url: {} } } },
    );
    const asked: unknown[] = [];
    client.setRequestHandler("elicitation/create", async (request) => {
      asked.push(request.params);
      return { action: "accept" } as never;
    });
    await client.connect(new TransportV2(url(), { authProvider: provider }));
    expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    expect(textOf(await client.callTool(linkOnce()))).toBe("connected");
    // 2026-07-28 names an input request by its key: the client's SDK reads no elicitationId.
    const { elicitationId: _key, ...asItAsks } = LINK;
    expect(asked).toEqual([asItAsks]);
    await client.close();
  });
});

// The same system, for a tool's result (s22 hunt "faithful" F2): a field the SDK's schema does not name reaches a
// 2025-11-25 session, spoken by hand (an SDK client would drop it itself), through its session object and the origin
// as the upstream wrote it.
describe("a tool's result through the edge", () => {
  it("keeps a content block's fields the SDK's schema does not name", async () => {
    const headers = (sessionId?: string) => ({
      authorization: `Bearer ${provider.accessToken}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      ...(sessionId && { "mcp-session-id": sessionId }),
    });
    const post = (message: Record<string, unknown>, sessionId?: string) =>
      fetch(url(), { method: "POST", headers: headers(sessionId), body: JSON.stringify(message) });
    const clientInfo = { name: "by-hand", version: "1" };
    const initialize = await post({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo },
    });
    const sessionId = initialize.headers.get("mcp-session-id") ?? "";
    await initialize.text();
    await (await post({ jsonrpc: "2.0", method: "notifications/initialized" }, sessionId)).text();
    const text = '{"content":[{"type":"text","text":"x","lang":"en"}]}';
    const called = await post(
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "raw", arguments: { text } } },
      sessionId,
    );
    const body = await called.text();
    const json = body.startsWith("{") ? body : (body.split("\n").find((line) => line.startsWith("data: {")) ?? "").slice(6);
    expect(JSON.parse(json).result.content).toEqual([{ type: "text", text: "x", lang: "en" }]);
  });
});
