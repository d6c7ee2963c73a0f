import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuditRow, waitForAuditRows } from "./audit-rows.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// A 2025-era client (SDK v1, 2025-11-25) keeps a session at the edge (a Durable Object), which speaks
// 2026-07-28 to the origin; the upstream is the 2025-era MCP reference server over stdio. Everything the
// upstream asks of the client mid-call travels as input_required over the hop and as real requests on the
// client's session.

let system: Awaited<ReturnType<typeof startTestSystem>>;
let provider: InMemoryOAuthProvider;
beforeAll(async () => {
  system = await startTestSystem();
  provider = new InMemoryOAuthProvider();
  const first = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider as never });
  await expect(new Client({ name: "sign-in", version: "1.0.0" }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
  await first.finishAuth((await provider.signInHeadlessly()).get("code") ?? "");
});
afterAll(async () => {
  await system?.close();
});

const mcpUrl = () => new URL(`${system.edgeUrl}/mcp/everything`);

async function connect(
  capabilities: Record<string, unknown> = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: "e2e-legacy", version: "1.0.0" }, { capabilities });
  const transport = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider as never });
  await client.connect(transport);
  return { client, transport };
}

const textOf = (result: Record<string, unknown>) => JSON.stringify(result.content);

/** A POST to the MCP endpoint as the signed-in user, outside any SDK client: a session's id and version in `headers`. */
const postMcp = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(mcpUrl(), {
    method: "POST",
    headers: {
      authorization: `Bearer ${provider.accessToken}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(body),
  });

describe("2025-era client sessions at the edge", () => {
  it("issues a session id and answers the handshake from the upstream's discovery", async () => {
    const { client, transport } = await connect();
    expect(transport.sessionId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(client.getServerVersion()?.name).toBe("mcp-servers/everything");
    expect(client.getServerCapabilities()?.tools).toBeDefined();
    await client.close();
  });

  it("carries the upstream's sampling request to the client and the client's answer back (input_required over the hop)", async () => {
    const { client } = await connect({ sampling: {} });
    const asked: unknown[] = [];
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      asked.push(request.params.messages);
      return { role: "assistant", content: { type: "text", text: "sampled by the e2e client" }, model: "e2e-model" };
    });
    const result = await client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "say hi" } });
    expect(asked).toHaveLength(1);
    expect(textOf(result)).toContain("sampled by the e2e client");
    await client.close();
  });

  it("carries elicitation and roots requests the same way", async () => {
    const { client } = await connect({ elicitation: {}, roots: { listChanged: true } });
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada Lovelace" } }));
    client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: "file:///e2e/project", name: "e2e project" }],
    }));
    const elicited = await client.callTool({ name: "trigger-elicitation-request", arguments: {} });
    expect(textOf(elicited)).toContain("Ada Lovelace");
    const roots = await client.callTool({ name: "get-roots-list", arguments: {} });
    expect(textOf(roots)).toContain("file:///e2e/project");
    await client.close();
  });

  it("relays progress notifications during a call under the client's own token", async () => {
    const { client } = await connect();
    const progress: number[] = [];
    await client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } }, undefined, {
      onprogress: (update) => progress.push(update.progress),
    });
    expect(progress).toEqual([1, 2, 3]);
    await client.close();
  });

  it("delivers resource updates on the GET stream once subscribed", async () => {
    const { client } = await connect();
    const { resources } = await client.listResources();
    const uri = resources[0]?.uri;
    expect(uri).toBeTruthy();
    const updated = new Promise<string>((resolve) =>
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => resolve(notification.params.uri)),
    );
    await client.subscribeResource({ uri: uri as string });
    await client.callTool({ name: "toggle-subscriber-updates", arguments: {} });
    await expect(updated).resolves.toBe(uri);
    await client.callTool({ name: "toggle-subscriber-updates", arguments: {} });
    await client.close();
  }, 30_000);

  it("ends the stream of a call cancelled while it streams; the client resuming it is told there is nothing more", async () => {
    // Every request the client makes, and when each answer's body ends.
    const seen: { method: string; lastEventId: string | null; status: number; body: string; ended?: number }[] = [];
    const watching = async (input: string | URL | Request, init?: RequestInit) => {
      const response = await fetch(input, init);
      const entry = {
        method: init?.method ?? "GET",
        lastEventId: new Headers(init?.headers).get("last-event-id"),
        status: response.status,
        body: String(init?.body ?? ""),
      } as (typeof seen)[number];
      seen.push(entry);
      if (!response.body) return response;
      const ended = new TransformStream({
        flush: () => {
          entry.ended = Date.now();
        },
      });
      return new Response(response.body.pipeThrough(ended), response);
    };
    const client = new Client({ name: "e2e-cancel", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider as never, fetch: watching }));
    const cancel = new AbortController();
    let progressed = () => {};
    const firstProgress = new Promise<void>((resolve) => {
      progressed = resolve;
    });
    const call = client
      .callTool({ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }, undefined, {
        onprogress: () => progressed(),
        signal: cancel.signal,
        timeout: 60_000,
      })
      .catch((error: Error) => error);
    await firstProgress;
    const before = seen.length;
    cancel.abort("the user pressed Esc");
    expect(await call).toBeInstanceOf(Error);
    const callStream = seen.find((entry) => entry.body.includes('"tools/call"'));
    for (let tries = 0; tries < 50 && callStream?.ended === undefined; tries++) await new Promise((r) => setTimeout(r, 100));
    expect(callStream?.ended).toBeDefined();
    // A v1 client resumes such a stream (an error is no answer to it): once, told 204, and then nothing more. Had it
    // been given a stream that closes at once, it would resume again and again, then open GET stream after GET stream.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = seen.slice(before).filter((entry) => entry.method === "GET");
    expect(after.every((entry) => entry.lastEventId !== null && entry.status === 204)).toBe(true);
    expect(after.length).toBeLessThanOrEqual(1);
    await client.close();
  }, 30_000);

  it("answers a plain call with one JSON body, and a call whose answer streams over SSE", async () => {
    const { client, transport } = await connect();
    const post = (id: number, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) =>
      postMcp(
        { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args, _meta: meta } },
        { "mcp-session-id": transport.sessionId as string, "mcp-protocol-version": "2025-11-25" },
      );
    const plain = await post(21, "echo", { message: "short way" });
    expect(plain.headers.get("content-type")).toContain("application/json");
    expect(plain.headers.get("mcp-answer-outcome")).toBeNull(); // the edge's own label never reaches the client
    const answer = (await plain.json()) as { id: number; result: { content: unknown; resultType?: unknown } };
    expect(answer.id).toBe(21);
    expect(JSON.stringify(answer.result.content)).toContain("short way");
    expect(answer.result).not.toHaveProperty("resultType"); // a 2026-07-28 field a 2025 client has no use for
    const streamed = await post(22, "trigger-long-running-operation", { duration: 0.2, steps: 2 }, { progressToken: "p" });
    expect(streamed.headers.get("content-type")).toContain("text/event-stream");
    const events = await streamed.text();
    expect(events).toContain("notifications/progress");
    expect(events).toContain('"id":22');
    // A silent call longer than the short way waits (10 s) goes on over SSE, with the transport's keep-alives.
    const long = await post(23, "trigger-long-running-operation", { duration: 11, steps: 1 });
    expect(long.headers.get("content-type")).toContain("text/event-stream");
    expect(await long.text()).toContain('"id":23');
    await client.close();
  }, 40_000);

  it("answers and audits a call cancelled on the short way as cancelled (-32800), not as an answer that broke off", async () => {
    const { client, transport } = await connect();
    const headers = { "mcp-session-id": transport.sessionId as string, "mcp-protocol-version": "2025-11-25" };
    const since = new Date();
    // No progress token: the origin's first word would be the final answer, so the call waits on the short way.
    const call = postMcp(
      {
        jsonrpc: "2.0",
        id: 31,
        method: "tools/call",
        params: { name: "trigger-long-running-operation", arguments: { duration: 5, steps: 1 } },
      },
      headers,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const cancelled = {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 31, reason: "the user pressed Esc" },
    };
    expect((await postMcp(cancelled, headers)).status).toBe(202);
    const answer = (await (await call).json()) as { id: number; error?: { code: number } };
    expect(answer).toMatchObject({ id: 31, error: { code: -32800 } });
    const clientId = (provider.clientInformation() as { client_id: string }).client_id;
    const calls = (rows: AuditRow[]) => rows.filter((row) => row.method === "tools/call");
    const rows = calls(await waitForAuditRows(system.databaseUrl, { clientId, since }, (rows) => calls(rows).length >= 1));
    expect(rows.map((row) => [row.outcome, (row as AuditRow & { error_code: number | null }).error_code])).toEqual([
      ["cancelled", -32800],
    ]);
    await client.close();
  });

  it("audits a call whose stream broke and was resumed (Last-Event-ID) by its answer, not as cancelled", async () => {
    const { client, transport } = await connect();
    const headers = { "mcp-session-id": transport.sessionId as string, "mcp-protocol-version": "2025-11-25" };
    const since = new Date();
    const call = {
      jsonrpc: "2.0",
      id: 41,
      method: "tools/call",
      params: { name: "trigger-long-running-operation", arguments: { duration: 3, steps: 3 }, _meta: { progressToken: "p" } },
    };
    const reader = (await postMcp(call, headers)).body?.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const progressEvent = /id: (\S+)\n(?:event: message\n)?data: \{[^\n]*progress/;
    let text = "";
    while (!progressEvent.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel(); // a network change
    const lastEventId = progressEvent.exec(text)?.[1] as string;
    let resumed: Response | undefined;
    // Until the edge has noticed the broken stream, a resumption of it is refused 409.
    for (let tries = 0; tries < 50 && (!resumed || resumed.status === 409); tries++) {
      await resumed?.text();
      await new Promise((resolve) => setTimeout(resolve, 100));
      resumed = await fetch(mcpUrl(), {
        headers: {
          authorization: `Bearer ${provider.accessToken}`,
          accept: "text/event-stream",
          "last-event-id": lastEventId,
          ...headers,
        },
      });
    }
    expect(await (resumed as Response).text()).toMatch(/"result":\{"content".*"id":41\}/);
    const clientId = (provider.clientInformation() as { client_id: string }).client_id;
    const calls = (rows: AuditRow[]) => rows.filter((row) => row.method === "tools/call");
    const rows = calls(await waitForAuditRows(system.databaseUrl, { clientId, since }, (rows) => calls(rows).length >= 1));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const again = calls(await waitForAuditRows(system.databaseUrl, { clientId, since }, () => true));
    expect([rows, again].map((found) => found.map((row) => row.outcome))).toEqual([["ok"], ["ok"]]);
    await client.close();
  }, 60_000);

  it("audits each call of a 2025-03-26 batch by its own answer", async () => {
    const post = (body: unknown, sessionId?: string) => postMcp(body, sessionId ? { "mcp-session-id": sessionId } : {});
    const clientInfo = { name: "e2e-batch", version: "1.0.0" };
    const init = await post({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo },
    });
    const sessionId = init.headers.get("mcp-session-id") as string;
    await init.text();
    await (await post({ jsonrpc: "2.0", method: "notifications/initialized" }, sessionId)).text();
    const since = new Date();
    const call = (id: number, args: Record<string, unknown>) => ({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "echo", arguments: args },
    });
    // A client's answer (to no request of this session) rides along: nothing waits for it, nothing answers it.
    const stray = { jsonrpc: "2.0", id: 99, result: {} };
    const answers = await (await post([call(1, { message: "b" }), stray, call(2, {})], sessionId)).text();
    expect(answers).toContain('"id":1');
    expect(answers).toContain('"id":2');
    expect(answers).not.toContain('"id":99');
    const clientId = (provider.clientInformation() as { client_id: string }).client_id;
    const batched = (rows: AuditRow[]) => rows.filter((row) => row.method === "tools/call");
    const rows = batched(await waitForAuditRows(system.databaseUrl, { clientId, since }, (rows) => batched(rows).length >= 2));
    expect(rows.map((row) => row.outcome).sort()).toEqual(["ok", "tool_error"]);
  });

  it("resumes a 2025-03-26 batch's stream after one answer, while the other is still worked on", async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) => postMcp(body, headers);
    const params = { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "e2e-resume", version: "1" } };
    const init = await post({ jsonrpc: "2.0", id: 0, method: "initialize", params });
    const session = { "mcp-session-id": init.headers.get("mcp-session-id") as string, "mcp-protocol-version": "2025-03-26" };
    await init.text();
    await (await post({ jsonrpc: "2.0", method: "notifications/initialized" }, session)).text();
    const long = { name: "trigger-long-running-operation", arguments: { duration: 3, steps: 3 }, _meta: { progressToken: "p" } };
    const batch = [
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { message: "first" } } },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: long },
    ];
    // Read until the echo's answer, then drop the connection, as a client whose network broke.
    const reader = (await post(batch, session)).body?.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    let text = "";
    while (!/id: (\S+)\n(?:event: message\n)?data: \{[^\n]*"id":1[,}]/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    const lastEventId = /id: (\S+)\n(?:event: message\n)?data: \{[^\n]*"id":1[,}]/.exec(text)?.[1] as string;
    expect(lastEventId).toBeTruthy();
    // The broken connection reaches the session a moment later: until then the stream is still taken (409).
    let resumed: Response | undefined;
    for (let tries = 0; tries < 30 && (!resumed || resumed.status === 409); tries++) {
      await resumed?.text();
      await new Promise((resolve) => setTimeout(resolve, 100));
      resumed = await fetch(mcpUrl(), {
        headers: {
          authorization: `Bearer ${provider.accessToken}`,
          accept: "text/event-stream",
          "last-event-id": lastEventId,
          ...session,
        },
      });
    }
    resumed = resumed as Response;
    expect(resumed.status).toBe(200);
    expect(await resumed.text()).toMatch(/"id":2[,}]/);
  }, 30_000);

  it("ends the session on DELETE: the id is then unknown (404)", async () => {
    const { client, transport } = await connect();
    const sessionId = transport.sessionId as string;
    await transport.terminateSession();
    const response = await postMcp(
      { jsonrpc: "2.0", id: 9, method: "tools/list" },
      { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" },
    );
    expect(response.status).toBe(404);
    await client.close();
  });

  it("on DELETE, stops a call still waiting for the origin's first word: its client is answered at once", async () => {
    const { client, transport } = await connect();
    const headers = { "mcp-session-id": transport.sessionId as string, "mcp-protocol-version": "2025-11-25" };
    // No progress token: the call waits on the short way, where nothing streams, for up to 10 s.
    const slow = {
      jsonrpc: "2.0",
      id: 5,
      method: "tools/call",
      params: { name: "trigger-long-running-operation", arguments: { duration: 20, steps: 2 } },
    };
    const answered = postMcp(slow, headers).then(async (response) => ({ at: Date.now(), text: await response.text() }));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const deleted = Date.now();
    await transport.terminateSession();
    const { at, text } = await answered;
    expect(text).toContain('"id":5');
    expect(text).toContain('"error"');
    // Not after the short way's 10 s, nor the call's 20.
    expect(at - deleted).toBeLessThan(5000);
    await client.close();
  }, 30_000);

  it("refuses a request without a session id that is not initialize (400)", async () => {
    const response = await postMcp({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(response.status).toBe(400);
  });
});

describe("2024-11-05 HTTP+SSE clients", () => {
  it("open a stream with GET, POST to the endpoint it names, and get every answer on the stream", async () => {
    const client = new Client({ name: "e2e-sse", version: "1.0.0" }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: "assistant",
      content: { type: "text", text: "sampled over the old transport" },
      model: "e2e-model",
    }));
    await client.connect(new SSEClientTransport(mcpUrl(), { authProvider: provider as never }));
    expect(client.getServerVersion()?.name).toBe("mcp-servers/everything");
    const echoed = await client.callTool({ name: "echo", arguments: { message: "over HTTP+SSE" } });
    expect(echoed.content).toEqual([{ type: "text", text: "Echo: over HTTP+SSE" }]);
    const sampled = await client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi" } });
    expect(textOf(sampled)).toContain("sampled over the old transport");
    await client.close();
  });

  it("audits each call with how it ended, although its answer travels on the stream after the POST's 202", async () => {
    const client = new Client({ name: "e2e-sse-audit", version: "1.0.0" });
    await client.connect(new SSEClientTransport(mcpUrl(), { authProvider: provider as never }));
    const since = new Date();
    await client.callTool({ name: "echo", arguments: { message: "audited" } });
    expect((await client.callTool({ name: "echo", arguments: {} })).isError).toBe(true); // no message: a tool error
    await expect(client.getPrompt({ name: "no-such-prompt" })).rejects.toThrow();
    await client.close();
    const clientId = (provider.clientInformation() as { client_id: string }).client_id;
    const calls = (rows: AuditRow[]) => rows.filter((row) => row.method === "tools/call" || row.method === "prompts/get");
    const rows = calls(await waitForAuditRows(system.databaseUrl, { clientId, since }, (rows) => calls(rows).length >= 3));
    // Once seen failing under load, its rows unknown: a failure now shows them whole.
    expect(
      rows.map((row) => [row.method, row.outcome]),
      JSON.stringify(rows),
    ).toEqual([
      ["tools/call", "ok"],
      ["tools/call", "tool_error"],
      ["prompts/get", "error"],
    ]);
  });

  it("refuses a POST to another user's or an unknown stream (404)", async () => {
    const response = await fetch(`${mcpUrl()}?sessionId=${"x".repeat(43)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${provider.accessToken}`, "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(response.status).toBe(404);
  });
});
