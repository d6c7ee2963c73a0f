import { beforeAll, describe, expect, inject, it } from "vitest";
import { SESSION_AUDITS_HEADER } from "../../contract/answer-outcome.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL, startEdgeCall } from "./edge-env.ts";
import { mcpStatus, registerClient, signedInTokens } from "./sign-in.ts";

let accessToken: string;
beforeAll(async () => {
  accessToken = (await signedInTokens(await registerClient())).access_token;
});

type PostOptions = { headers?: Record<string, string>; env?: Record<string, unknown>; signal?: AbortSignal };

/** A signed-in POST of `body`, with extra headers (and a signal) if given. */
const signedPost = (body: string, options: PostOptions = {}): RequestInit => ({
  method: "POST",
  headers: {
    authorization: `Bearer ${accessToken}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    ...options.headers,
  },
  body,
  signal: options.signal,
});

/** A signed-in POST of `body` to `path`, with extra headers and env overrides (bindings, settings) if given. */
const post = (path: string, body: string, options: PostOptions = {}) => callEdge(path, signedPost(body, options), options.env);

const listTools = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });

describe("the MCP relay refuses before reaching the origin", () => {
  it("a path that is not a server name", async () => {
    for (const path of [
      "/mcp/Everything",
      "/mcp/..%2Fadmin",
      "/mcp/every_thing",
      "/mcp/everything/extra",
      "/mcp/%zz",
      "/mcp/%65verything",
    ]) {
      const response = await post(path, listTools);
      expect(response.status, path).toBe(404);
    }
  });

  it("a path below a server, naming the two endpoints there are but no configured server (the policy may refuse it)", async () => {
    const response = await post("/mcp/everything/extra", listTools);
    expect(response.status).toBe(404);
    const body = await response.text();
    expect((JSON.parse(body) as { error: { message: string } }).error.message).toBe(
      "connect to /mcp for every server you may use, or to /mcp/<server> for one of them",
    );
    expect(body).not.toMatch(/everything|filesystem/);
  });

  it("a body over 4 MiB", async () => {
    const huge = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { message: "x".repeat(4 * 1024 * 1024) } },
    });
    const response = await post("/mcp/everything", huge);
    expect(response.status).toBe(413);
  });

  it("a chunked body that never ends, read only up to the limit", async () => {
    let pulled = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await callEdge(
      new Request(`${PUBLIC_URL}/mcp/everything`, {
        method: "POST",
        headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json" },
        body: endless,
      }),
    );
    expect(response.status).toBe(413);
    expect(pulled).toBeLessThanOrEqual(4 * 1024 * 1024 + 2 * chunk.byteLength);
  });

  it("but relays a well-formed request for a server name (the origin is down here: 503 and Retry-After, not 4xx)", async () => {
    const response = await post("/mcp/everything", listTools);
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
  });

  it("a server the edge does not serve, pointing at /mcp and naming none it serves (the policy may refuse them)", async () => {
    const response = await post("/mcp/unknown", listTools);
    expect(response.status).toBe(404);
    const body = await response.text();
    expect((JSON.parse(body) as { error: { message: string } }).error.message).toBe(
      'unknown server "unknown"; connect to /mcp for every server you may use',
    );
    expect(body).not.toMatch(/everything|filesystem/);
  });
});

describe("a request nested deeper than 256 levels (s21 insider I4: re-serializing it overflowed the origin's stack)", () => {
  /** A tools/call whose arguments nest `depth` levels deep in all (the message, params and arguments are three). */
  const nestedCall = (depth: number) =>
    `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":${"[".repeat(depth - 3)}${"]".repeat(depth - 3)}}}}`;

  it("is refused with -32600 naming the bound, on /mcp and on a server's path, and audited", async () => {
    const audit = capturedAudit();
    for (const [path, depth] of [
      ["/mcp", 257],
      ["/mcp", 200_000],
      ["/mcp/everything", 257],
    ] as const) {
      const response = await post(path, nestedCall(depth), { env: audit.env });
      expect(response.status, `${path} ${depth}`).toBe(400);
      expect(await response.json()).toEqual({
        jsonrpc: "2.0",
        id: null,
        error: { code: -32600, message: "the request nests arrays and objects deeper than 256 levels" },
      });
    }
    expect(audit.events).toEqual([
      expect.objectContaining({
        kind: "mcp.request",
        method: "tools/call",
        server: "*",
        httpStatus: 400,
        outcome: "error",
        errorCode: -32600,
      }),
      expect.objectContaining({ kind: "mcp.request", method: "tools/call", server: "*", httpStatus: 400, outcome: "error" }),
      expect.objectContaining({
        kind: "mcp.request",
        method: "tools/call",
        server: "everything",
        httpStatus: 400,
        outcome: "error",
      }),
    ]);
  });

  it("but relayed at 256 levels, and whatever brackets its strings hold (the origin is down here: 503)", async () => {
    expect((await post("/mcp", nestedCall(256))).status).toBe(503);
    const inString = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { x: `"${"[".repeat(1000)}\\` } },
    });
    expect((await post("/mcp/everything", inString)).status).toBe(503);
  });
});

describe("refusals at the relay are audited", () => {
  it("records an unknown server and an oversized body as audit events, with the user", async () => {
    const audit = capturedAudit();
    const sent = audit.events;
    const request = (path: string, body: string) => post(path, body, { env: audit.env });
    expect((await request("/mcp/unknown", listTools)).status).toBe(404);
    expect((await request("/mcp/everything", "x".repeat(4 * 1024 * 1024 + 1))).status).toBe(413);
    expect(sent).toEqual([
      expect.objectContaining({ kind: "mcp.request", httpStatus: 404, outcome: "denied", userSub: expect.any(String) }),
      expect.objectContaining({ kind: "mcp.request", httpStatus: 413, outcome: "error", server: "everything" }),
    ]);
  });

  // s28 docs hunt L8: a 413's row had neither, though audit.md says what could be read is recorded.
  it("records for an oversized body the method its Mcp-Method header names and the size its Content-Length declares", async () => {
    const audit = capturedAudit();
    const body = "x".repeat(4 * 1024 * 1024 + 1);
    const headers = { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "content-length": String(body.length) };
    expect((await post("/mcp/everything", body, { env: audit.env, headers })).status).toBe(413);
    expect(audit.events).toEqual([
      expect.objectContaining({
        httpStatus: 413,
        method: "tools/call",
        protocolVersion: "2026-07-28",
        requestBytes: body.length,
      }),
    ]);
  });
});

describe("an origin that hangs", () => {
  it("gets 504 with Retry-After and a JSON-RPC error once the answer timeout passes, instead of hanging", async () => {
    const started = Date.now();
    const response = await post("/mcp/everything", listTools, {
      env: { ORIGIN_URL: inject("silentUrl"), ORIGIN_ANSWER_TIMEOUT_SECONDS: "1" },
    });
    expect(response.status).toBe(504);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(await response.json()).toMatchObject({ id: 1, error: { code: -32000 } });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("gives up on the origin's request when the client's request is aborted (a 2026-07-28 cancellation)", async () => {
    const holding = inject("holdingUrl");
    const closedBefore = Number(await (await fetch(`${holding}/closed`)).text());
    const client = new AbortController();
    const audit = capturedAudit();
    const call = startEdgeCall("/mcp/everything", signedPost(listTools, { signal: client.signal }), {
      ORIGIN_URL: holding,
      ...audit.env,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    client.abort();
    await call.response.catch(() => undefined);
    await call.settled();
    expect(audit.events).toEqual([
      expect.objectContaining({ kind: "mcp.request", outcome: "cancelled", httpStatus: 499, errorCode: -32800 }),
    ]);
    let closed = closedBefore;
    for (let attempt = 0; attempt < 20 && closed === closedBefore; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      closed = Number(await (await fetch(`${holding}/closed`)).text());
    }
    expect(closed).toBe(closedBefore + 1);
  });

  it("lets an answer that has begun stream past the answer timeout", async () => {
    const call = startEdgeCall("/mcp/everything", signedPost(listTools), {
      ORIGIN_URL: inject("slowStreamUrl"),
      ORIGIN_ANSWER_TIMEOUT_SECONDS: "1",
    });
    const response = await call.response;
    expect(response.status).toBe(200);
    const body = await response.text();
    await call.settled();
    expect(body).toContain("notifications/progress");
    expect(body).toContain('"result":{"tools":[]}');
  });
});

// s27 failure hunt F5: a 2026-07-28 request whose origin was not reached was audited `error`, a 2025-era one
// `unavailable`: `audit search --outcome unavailable` showed half of an origin outage.
describe("an origin not reached, or silent, audited as unavailable (as in a 2025-era session)", () => {
  it("is audited unavailable with -32000, and its error says so to the client too", async () => {
    const audit = capturedAudit();
    for (const [origin, status] of [
      ["http://127.0.0.1:1", 503],
      [inject("silentUrl"), 504],
    ] as const) {
      const response = await post("/mcp/everything", listTools, {
        env: { ...audit.env, ORIGIN_URL: origin, ORIGIN_ANSWER_TIMEOUT_SECONDS: "1" },
      });
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject({ id: 1, error: { code: -32000, data: { upstreamUnanswered: true } } });
    }
    await expect.poll(() => audit.events.length).toBe(2);
    expect(audit.events).toEqual([
      expect.objectContaining({ method: "tools/list", outcome: "unavailable", errorCode: -32000, httpStatus: 503 }),
      expect.objectContaining({ method: "tools/list", outcome: "unavailable", errorCode: -32000, httpStatus: 504 }),
    ]);
  });
});

describe("who audits a request", () => {
  it("the edge, whatever the origin's answer claims: only a session object may take a request's audit over", async () => {
    const audit = capturedAudit();
    const response = await post("/mcp/everything", listTools, { env: { ...audit.env, ORIGIN_URL: inject("auditClaimingUrl") } });
    expect(response.status).toBe(200);
    expect(response.headers.has(SESSION_AUDITS_HEADER)).toBe(false);
    await response.text();
    await expect.poll(() => audit.events.length).toBe(1);
    expect(audit.events[0]).toMatchObject({ kind: "mcp.request", method: "tools/list", outcome: "ok" });
  });
});

describe("a 2026-07-28 subscriptions/listen", () => {
  it("is audited ok when the origin acknowledges it, not by how its stream (open for hours) ends", async () => {
    const origin = `${inject("groupsOriginUrl")}/l-${crypto.randomUUID().slice(0, 8)}`;
    const ack = { jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: {} };
    // Acknowledged, then the stream ends without an answer (an origin replaced mid-listen): still ok.
    await fetch(`${origin}/_control/answer`, { method: "POST", body: JSON.stringify({ sse: [ack] }) });
    const audit = capturedAudit();
    const listen = JSON.stringify({ jsonrpc: "2.0", id: 3, method: "subscriptions/listen", params: {} });
    const headers = { "mcp-protocol-version": "2026-07-28", "mcp-method": "subscriptions/listen" };
    const response = await post("/mcp/everything", listen, { headers, env: { ...audit.env, ORIGIN_URL: origin } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("notifications/subscriptions/acknowledged");
    await expect.poll(() => audit.events.length).toBe(1);
    expect(audit.events[0]).toMatchObject({ method: "subscriptions/listen", outcome: "ok", httpStatus: 200 });
  });
});

describe("JSON-RPC batches", () => {
  const batch = JSON.stringify([
    { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "delete_everything", arguments: {} } },
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: { message: "cover" } } },
  ]);
  const send = (version: string | undefined, audit: ReturnType<typeof capturedAudit>) =>
    post("/mcp/everything", batch, { headers: version ? { "mcp-protocol-version": version } : {}, env: audit.env });

  it("are refused after 2025-03-26 (removed in 2025-06-18), and the refusal audited", async () => {
    for (const version of ["2025-06-18", "2025-11-25", "2026-07-28"]) {
      const audit = capturedAudit();
      const response = await send(version, audit);
      expect(response.status, version).toBe(400);
      expect(audit.events).toEqual([expect.objectContaining({ httpStatus: 400, outcome: "error" })]);
    }
  });

  it("are refused past 100 messages, with one audit event, not one per message", async () => {
    const audit = capturedAudit();
    const many = Array.from({ length: 101 }, (_, id) => ({ jsonrpc: "2.0", id, method: "tools/list" }));
    const response = await post("/mcp/everything", JSON.stringify(many), { env: audit.env });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: -32600, message: expect.stringContaining("at most 100") } });
    expect(audit.events).toEqual([expect.objectContaining({ httpStatus: 400, outcome: "error" })]);
  });

  it("are relayed for a 2025-03-26 client with one audit event per call, so no call hides in a batch", async () => {
    const audit = capturedAudit();
    await send("2025-03-26", audit);
    expect(audit.events.map((event) => [event.method, event.tool])).toEqual([
      ["tools/call", "delete_everything"],
      ["tools/call", "echo"],
    ]);
  });
});

describe("audit events always fit the queue", () => {
  it("cuts a 200 KB tool name to a marked prefix instead of losing the event", async () => {
    const audit = capturedAudit();
    const sent = audit.events;
    const name = "t".repeat(200 * 1024);
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: {} } });
    await post("/mcp/everything", body, { env: audit.env });
    expect(sent).toHaveLength(1);
    const tool = sent[0]?.tool as string;
    expect(tool.length).toBeLessThan(2100);
    expect(tool).toContain(`truncated from ${name.length} characters`);
    expect(JSON.stringify(sent[0]).length).toBeLessThan(128 * 1024);
  });
});

describe("token audiences (RFC 8707)", () => {
  it("a token for one server opens no other", async () => {
    const tokens = await signedInTokens(await registerClient(), `${PUBLIC_URL}/mcp/everything`);
    expect(await mcpStatus(tokens.access_token, "everything")).toBe(503); // through to the (absent) origin
    expect(await mcpStatus(tokens.access_token, "filesystem")).toBe(401);
  });

  it("a token for the umbrella /mcp opens every server", async () => {
    const tokens = await signedInTokens(await registerClient());
    expect(await mcpStatus(tokens.access_token, "everything")).toBe(503);
    expect(await mcpStatus(tokens.access_token, "filesystem")).toBe(503);
  });
});

describe("browser origins (DNS rebinding, cross-site pages)", () => {
  const fromOrigin = (origin: string) => post("/mcp/everything", listTools, { headers: { origin } });

  it("refuses a page of another site with 403, before the token is even looked at", async () => {
    const response = await fromOrigin("http://evil.example.com");
    expect(response.status).toBe(403);
    const unauthenticated = await callEdge("/mcp/everything", {
      method: "POST",
      headers: { origin: "https://evil.example.com" },
      body: listTools,
    });
    expect(unauthenticated.status).toBe(403);
  });

  it("lets through the edge's own origin and local pages (the Inspector runs on localhost)", async () => {
    expect((await fromOrigin(PUBLIC_URL)).status).toBe(503);
    expect((await fromOrigin("http://localhost:6274")).status).toBe(503);
  });

  it("lets through a page the configuration allows", async () => {
    const response = await post("/mcp/everything", listTools, {
      headers: { origin: "https://tools.example.com" },
      env: { MCP_ALLOWED_ORIGINS: "tools.example.com" },
    });
    expect(response.status).toBe(503);
  });

  // s29 skew hunt F1: such entries were accepted before 7d9a118 and did nothing; refusing them took the edge down.
  it("serves a configuration whose allowed origins name no host, and lets no page through for them", async () => {
    const env = { MCP_ALLOWED_ORIGINS: "*.example.com,tools.example.com,*" };
    const from = (origin: string) => post("/mcp/everything", listTools, { headers: { origin }, env });
    expect((await from("https://tools.example.com")).status).toBe(503);
    expect((await from("https://app.example.com")).status).toBe(403);
    expect((await from("https://*.example.com")).status).toBe(403);
    expect((await from("https://*")).status).toBe(403);
  });

  it("lets through every origin of a scheme listed as <scheme>://* (Firefox extensions), as the SDK reads it", async () => {
    const env = { MCP_ALLOWED_ORIGINS: "moz-extension://*" };
    const from = (origin: string) => post("/mcp/everything", listTools, { headers: { origin }, env });
    expect((await from("moz-extension://0d1c7b2e-5f4a-4e1b-9b3c-2a1f0e9d8c7b")).status).toBe(503);
    expect((await from("https://evil.example.com")).status).toBe(403);
  });
});

describe("answers a browser-based client can use (the MCP Inspector)", () => {
  it("exposes the session and version headers cross-origin", async () => {
    const response = await post("/mcp/everything", listTools, { headers: { origin: "http://localhost:6274" } });
    const exposed = response.headers.get("access-control-expose-headers")?.toLowerCase() ?? "";
    expect(exposed).toContain("mcp-session-id");
    expect(exposed).toContain("mcp-protocol-version");
    expect(exposed).toContain("www-authenticate");
  });

  it("gives the 401 challenge a JSON body that says to sign in", async () => {
    const response = await callEdge("/mcp/everything", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: listTools,
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain("resource_metadata=");
    expect(await response.json()).toMatchObject({
      error: "invalid_token",
      error_description: expect.stringMatching(/^sign in:/),
    });
  });

  it("says in the 401's body when the token sent does not open the address, rather than asking for one", async () => {
    const response = await callEdge("/mcp/everything", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer not-a-token-of-this-edge" },
      body: listTools,
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
    const body = (await response.json()) as { error: string; error_description: string };
    expect(body.error).toBe("invalid_token");
    expect(body.error_description).toMatch(/^the access token does not open this address: it expired, was revoked/);
  });
});
