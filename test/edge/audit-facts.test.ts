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
    expect(events[0]).toMatchObject({ outcome: "denied", httpStatus: 403, userSub: expect.any(String) });
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

/** The queue of `events` as an env override, for a call made outside `edge`. */
function capturedAuditEnv(events: AuditEvent[]): Record<string, unknown> {
  return { AUDIT_QUEUE: { send: async (body: AuditEvent | AuditEvent[]) => void events.push(...[body].flat()) } };
}
