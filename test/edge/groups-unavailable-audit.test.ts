import type { OAuthResourceContext } from "@cloudflare/workers-oauth-provider";
import { afterEach, describe, expect, it, vi } from "vitest";
import { userWithCurrentGroups } from "../../worker/auth/groups/request-groups.ts";
import type { UserProps } from "../../worker/env.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL, testEnv } from "./edge-env.ts";
import { registerClient, signedInTokens } from "./sign-in.ts";

// A request refused because its user's groups cannot be read (503) is refused before the MCP handler admits it: its
// audit row must still say which server, method and tool it asked for, as every other MCP request's row does.

const ORIGIN = "https://groups-down.audit.test";

afterEach(() => vi.unstubAllGlobals());

/** The audit rows of one request refused for unreadable groups (the origin cannot be reached), and its answer. */
async function refusedForGroups(path: string, init: { method?: string; body?: string }) {
  const passThrough = globalThis.fetch;
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, options?: RequestInit) => {
    if (new Request(input, options).url.startsWith(ORIGIN)) throw new Error("connection refused");
    return passThrough(input, options);
  });
  const audit = capturedAudit();
  const env = testEnv({ ...audit.env, ORIGIN_URL: ORIGIN, GROUPS_SOURCE: "google-directory" });
  const waits: Promise<unknown>[] = [];
  const user: UserProps = { sub: `user-${crypto.randomUUID()}`, email: "dev@example.com", groups: [] };
  const ctx = { props: user, auth: { clientId: "client-1" }, waitUntil: (promise: Promise<unknown>) => waits.push(promise) };
  const headers = { "content-type": "application/json", "mcp-protocol-version": "2025-06-18" };
  const request = new Request(`${PUBLIC_URL}${path}`, { method: init.method ?? "POST", headers, body: init.body });
  const answer = await userWithCurrentGroups(env, ctx as unknown as OAuthResourceContext<UserProps>, request);
  await Promise.allSettled(waits);
  return { answer, events: audit.events };
}

const message = (method: string, params: Record<string, unknown>) => JSON.stringify({ jsonrpc: "2.0", id: 7, method, params });

describe("a request refused because its groups cannot be read", () => {
  it("is audited with its server, method and tool", async () => {
    const body = message("tools/call", { name: "echo", arguments: { text: "hi" } });
    const { answer, events } = await refusedForGroups("/mcp/everything", { body });
    expect((answer as Response).status).toBe(503);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: "mcp.request",
      server: "everything",
      method: "tools/call",
      tool: "echo",
      protocolVersion: "2025-06-18",
      requestBytes: new TextEncoder().encode(body).byteLength,
      httpStatus: 503,
      outcome: "error",
    });
  });

  it("is audited with the prompt or resource it uses, and on /mcp with the server its public name names", async () => {
    const prompt = await refusedForGroups("/mcp", { body: message("prompts/get", { name: "everything__simple_prompt" }) });
    expect(prompt.events[0]).toMatchObject({ server: "everything", method: "prompts/get", tool: "simple_prompt" });
    const read = await refusedForGroups("/mcp/everything", { body: message("resources/read", { uri: "test://static/1" }) });
    expect(read.events[0]).toMatchObject({ server: "everything", method: "resources/read", tool: "test://static/1" });
  });

  it("names a GET by what it means, and no server for a path the edge does not serve", async () => {
    const stream = await refusedForGroups("/mcp/everything", { method: "GET" });
    expect(stream.events[0]).toMatchObject({ server: "everything", method: "stream/open" });
    const unknown = await refusedForGroups("/mcp/nosuch", { body: message("tools/call", { name: "echo" }) });
    expect(unknown.events[0]).toMatchObject({ method: "tools/call" });
    expect(unknown.events[0]?.server).toBeUndefined();
  });
});

describe("through the MCP handler", () => {
  it("a request refused for unreadable groups is audited with what it asks", async () => {
    // Signed in with the id_token's groups (no look-up time), then served by an edge that reads them from the Directory.
    const { access_token } = await signedInTokens(await registerClient());
    const passThrough = globalThis.fetch;
    vi.stubGlobal("fetch", async (input: RequestInfo | URL, options?: RequestInit) => {
      if (new Request(input, options).url.startsWith(ORIGIN)) throw new Error("connection refused");
      return passThrough(input, options);
    });
    const audit = capturedAudit();
    const response = await callEdge(
      `${PUBLIC_URL}/mcp/everything`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${access_token}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2025-06-18",
        },
        body: message("tools/call", { name: "echo", arguments: {} }),
      },
      { ...audit.env, ORIGIN_URL: ORIGIN, GROUPS_SOURCE: "google-directory" },
    );
    expect(response.status).toBe(503);
    expect(audit.events).toEqual([
      expect.objectContaining({ kind: "mcp.request", server: "everything", method: "tools/call", tool: "echo", httpStatus: 503 }),
    ]);
  });
});
