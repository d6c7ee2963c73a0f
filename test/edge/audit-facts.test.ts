import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL } from "./edge-env.ts";
import { registerClient, signedInTokens } from "./sign-in.ts";

// What the edge records of MCP requests whose answers a stand-in origin gives: the Worker's own `fetch` is replaced
// for the origin's address only (everything else, the identity provider included, goes out as usual).

const ORIGIN = "https://origin.audit-facts.test";
type Answer = { status?: number; body: unknown; headers?: Record<string, string> };
let answer: (request: Request) => Answer = () => ({ body: { jsonrpc: "2.0", id: 1, result: {} } });

let accessToken: string;
beforeAll(async () => {
  accessToken = (await signedInTokens(await registerClient())).access_token;
});

afterEach(() => {
  vi.unstubAllGlobals();
});

function standInOrigin(): void {
  const passThrough = globalThis.fetch;
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(ORIGIN)) return passThrough(input, init);
    const { status = 200, body, headers = {} } = answer(request);
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
  });
}

/** Requests to the edge with the stand-in origin behind it, and what the edge audited of them. */
function edge(headers: Record<string, string> = {}) {
  const audit = capturedAudit();
  standInOrigin();
  const send = (path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) =>
    callEdge(
      `${PUBLIC_URL}${path}`,
      {
        method: init.method ?? "POST",
        headers: {
          authorization: `Bearer ${accessToken}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...headers,
          ...init.headers,
        },
        body: init.body,
      },
      { ...audit.env, ORIGIN_URL: ORIGIN },
    );
  return { events: audit.events, send };
}

const call = (name: string, id: number | string = 1) =>
  JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {} } });

const kinds = (events: AuditEvent[]) => events.map((event) => event.kind);

describe("a whole server refused by policy (the origin's 403)", () => {
  const refusal = { status: 403, body: { jsonrpc: "2.0", id: null, error: { code: -32003, message: "refused by policy" } } };

  it("is one mcp.request row, denied with the user and the policy's code: never a refused token too", async () => {
    answer = () => refusal;
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    expect((await send("/mcp/everything", { body: call("echo") })).status).toBe(403);
    expect(kinds(events)).toEqual(["mcp.request"]);
    expect(events[0]).toMatchObject({ outcome: "denied", errorCode: -32003, httpStatus: 403, userSub: expect.any(String) });
  });

  it("a token the library refuses is still audited as auth.denied", async () => {
    const { events } = edge();
    const refused = await callEdge(
      `${PUBLIC_URL}/mcp/everything`,
      {
        method: "POST",
        headers: { authorization: "Bearer not-a-token", "content-type": "application/json" },
        body: call("echo"),
      },
      { ...capturedAuditEnv(events), ORIGIN_URL: ORIGIN },
    );
    expect(refused.status).toBe(401);
    expect(kinds(events)).toEqual(["auth.denied"]);
  });
});

describe("facts the edge fills in", () => {
  it("the JSON-RPC code of an answer under id null (a body that is not JSON)", async () => {
    answer = () => ({ status: 400, body: { jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } } });
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    expect((await send("/mcp/everything", { body: "{not json" })).status).toBe(400);
    expect(events).toEqual([expect.objectContaining({ outcome: "error", errorCode: -32700, httpStatus: 400 })]);
  });

  it("what a request refused at the edge asked: a batch's method, version and size", async () => {
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    const batch = `[${call("echo", 1)},${call("echo", 2)}]`;
    expect((await send("/mcp/everything", { body: batch })).status).toBe(400);
    expect(events).toEqual([
      expect.objectContaining({
        method: "batch",
        protocolVersion: "2026-07-28",
        requestBytes: batch.length,
        outcome: "error",
        errorCode: -32600,
      }),
    ]);
  });

  it("the method and version of a request to a server the edge does not serve", async () => {
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    expect((await send("/mcp/nosuch", { body: call("echo") })).status).toBe(404);
    expect(events).toEqual([
      expect.objectContaining({ method: "tools/call", protocolVersion: "2026-07-28", outcome: "denied", httpStatus: 404 }),
    ]);
  });

  it("the protocol version a GET or DELETE names in its header", async () => {
    answer = () => ({ status: 405, body: { jsonrpc: "2.0", id: null, error: { code: -32000, message: "Method not allowed" } } });
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    await send("/mcp/everything", { method: "GET" });
    await send("/mcp/everything", { method: "DELETE" });
    expect(events.map((event) => [event.method, event.protocolVersion])).toEqual([
      ["stream/open", "2026-07-28"],
      ["session/delete", "2026-07-28"],
    ]);
  });
});

describe("a 2026-07-28 round that only asks (input_required)", () => {
  const asking = {
    jsonrpc: "2.0",
    id: 1,
    result: { resultType: "input_required", inputRequests: { approve: { method: "elicitation/create", params: {} } } },
  };

  it("is audited input_required, not ok: the tool did not run", async () => {
    answer = () => ({ body: asking });
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    expect((await send("/mcp/everything", { body: call("drop") })).status).toBe(200);
    expect(events).toEqual([expect.objectContaining({ tool: "drop", outcome: "input_required", httpStatus: 200 })]);
  });

  it("the same when the origin labels the answer (as it labels every JSON answer), and the declined round is error", async () => {
    const declined = { jsonrpc: "2.0", id: 2, error: { code: -32006, message: "not approved" } };
    answer = () => ({ body: asking, headers: { "mcp-answer-outcome": "input_required" } });
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    await send("/mcp/everything", { body: call("drop") });
    answer = () => ({ body: declined, headers: { "mcp-answer-outcome": "error -32006" } });
    await send("/mcp/everything", { body: call("drop", 2) });
    expect(events.map((event) => [event.outcome, event.errorCode])).toEqual([
      ["input_required", undefined],
      ["error", -32006],
    ]);
  });
});

describe("what was used, the same on /mcp and /mcp/<server>", () => {
  const ok = { body: { jsonrpc: "2.0", id: 1, result: {} } };
  const prompt = (name: string) => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "prompts/get", params: { name } });
  const read = (uri: string) => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "resources/read", params: { uri } });
  const used = (events: AuditEvent[]) => events.map((event) => [event.method, event.server, event.tool]);

  it("on /mcp/<server>: the tool's and the prompt's name, the resource's URI", async () => {
    answer = () => ok;
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    await send("/mcp/everything", { body: call("echo") });
    await send("/mcp/everything", { body: prompt("simple_prompt") });
    await send("/mcp/everything", { body: read("demo://resource/static/document/1") });
    expect(used(events)).toEqual([
      ["tools/call", "everything", "echo"],
      ["prompts/get", "everything", "simple_prompt"],
      ["resources/read", "everything", "demo://resource/static/document/1"],
    ]);
  });

  it("on /mcp: the upstream's names and the server the origin routed to, as its label says", async () => {
    const long = `a_tool_whose_name_is_far_too_long_for_a_public_name_of_sixty_four_characters`;
    const shortened = `${`everything__${long}`.slice(0, 55)}-0123abcd`; // as the origin cuts it: 64 characters
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    const routed = (label: string) => () => ({ ...ok, headers: { "mcp-answer-route": label } });
    answer = routed("everything echo");
    await send("/mcp", { body: call("everything__echo") });
    answer = routed(`everything ${encodeURIComponent(long)}`);
    await send("/mcp", { body: call(shortened) });
    answer = routed("everything simple_prompt");
    await send("/mcp", { body: prompt("everything__simple_prompt") });
    answer = routed("filesystem");
    await send("/mcp", { body: read("file:///tmp/notes.txt") });
    expect(used(events)).toEqual([
      ["tools/call", "everything", "echo"],
      ["tools/call", "everything", long],
      ["prompts/get", "everything", "simple_prompt"],
      ["resources/read", "filesystem", "file:///tmp/notes.txt"],
    ]);
  });

  it("on /mcp without a label (refused before it was routed): read from the public name", async () => {
    answer = () => ({ status: 403, body: { jsonrpc: "2.0", id: 1, error: { code: -32003, message: "refused by policy" } } });
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    await send("/mcp", { body: call("filesystem__secret_tool") });
    expect(events).toEqual([
      expect.objectContaining({ server: "filesystem", tool: "secret_tool", outcome: "denied", errorCode: -32003 }),
    ]);
  });

  it("a label is taken from the aggregated endpoint's answers only, and only naming a configured server", async () => {
    const { events, send } = edge({ "mcp-protocol-version": "2026-07-28" });
    // An upstream behind /mcp/<server> could set the header on its answer: it names nothing there.
    answer = () => ({ ...ok, headers: { "mcp-answer-route": "filesystem other_tool" } });
    await send("/mcp/everything", { body: call("echo") });
    answer = () => ({ ...ok, headers: { "mcp-answer-route": "nosuch other_tool" } });
    await send("/mcp", { body: call("everything__echo") });
    expect(used(events)).toEqual([
      ["tools/call", "everything", "echo"],
      ["tools/call", "everything", "echo"],
    ]);
  });
});

/** The queue of `events` as an env override, for a call made outside `edge`. */
function capturedAuditEnv(events: AuditEvent[]): Record<string, unknown> {
  return { AUDIT_QUEUE: { send: async (body: AuditEvent | AuditEvent[]) => void events.push(...[body].flat()) } };
}
