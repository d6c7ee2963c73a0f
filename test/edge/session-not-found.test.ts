import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { asResponse } from "../../worker/mcp/bridge/direct-answer.ts";
import type { RequestFacts } from "../../worker/mcp/inspect-request.ts";
import { toSession } from "../../worker/mcp/legacy-session.ts";
import { testEnv } from "./edge-env.ts";

// A client told its session is not found initializes anew: it must be told the same way whether the Worker refused the
// session id or the session object did not know it.
const edgeEnv = () => ((testEnv() as EdgeEnv).MCP_SESSION ? (testEnv() as EdgeEnv) : (env as unknown as EdgeEnv));
const ALICE = { sub: "alice", groups: [], clientId: "client-1", server: "everything" };
const headers = (sessionId: string) => ({
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-session-id": sessionId,
  "mcp-protocol-version": "2025-11-25",
});
const body = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" });

const answer = async (response: Response) => ({
  status: response.status,
  body: (await response.json()) as Record<string, unknown>,
});

describe("a 2025-era session that is not found", () => {
  it("is answered alike by the Worker (a malformed id) and by the session object (an unknown one)", async () => {
    const request = new Request("http://localhost:8787/mcp/everything", { method: "POST", headers: headers("short"), body });
    const facts = { method: "tools/list", id: 7 } as unknown as RequestFacts;
    const byWorker = await answer(await toSession(edgeEnv(), request, body, facts, ALICE, () => ({}) as never));

    const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "n");
    const sessions = edgeEnv().MCP_SESSION;
    const stub = sessions.get(sessions.idFromName(sessionId)) as DurableObjectStub<McpSession>;
    const http = { url: request.url, method: "POST", headers: headers(sessionId), body };
    const byObject = await answer(asResponse(await stub.serve(http, ALICE, sessionId)));

    expect(byObject).toEqual({
      status: 404,
      body: { jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found: initialize a new session" } },
    });
    // The Worker names the request it refused; otherwise the same answer.
    expect(byWorker).toEqual({ ...byObject, body: { ...byObject.body, id: 7 } });
  });
});
