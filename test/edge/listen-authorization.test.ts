import { env, runInDurableObject } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { asResponse } from "../../worker/mcp/bridge/direct-answer.ts";
import { originLinkOf } from "../../worker/mcp/bridge/origin-exchange.ts";
import type { SessionIdentity, SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import { listenUntil } from "../../worker/mcp/listen-until.ts";
import { holdSessionStream } from "../../worker/mcp/session-stream.ts";
import { ORIGIN_RETRY_AFTER_SECONDS } from "../../worker/upstream/origin-failure.ts";
import { capturedAudit } from "./audit-capture.ts";
import { startEdgeCall, testEnv } from "./edge-env.ts";
import { groupsEdge, originSaw, setOriginGroups, signedIn } from "./groups-sign-in.ts";

// A listen is authorized once, when it opens; it lives no longer than what signed it: the caller's token, and their
// groups for groups.ttlSeconds from when they were read (s27 isolation hunt, I2). Time is driven by what the code
// reads: the groups' checkedAt (moved back here, as if read long ago) and the identity's bounds.

const ACK = { jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: {} };
const CHANGED = { jsonrpc: "2.0", method: "notifications/tools/list_changed" };
const MODERN_VERSION = "io.modelcontextprotocol/protocolVersion";
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Reads a stream to its end. */
const readAll = async (body: ReadableStream<Uint8Array> | null) => new Response(body).text();

describe("a 2026-07-28 subscriptions/listen relayed by the edge", () => {
  const TTL = 5;
  const realFetch = globalThis.fetch;
  beforeAll(() => {
    // Every reading of the groups is as if made TTL - 1 seconds ago: fresh for one more second.
    globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
      const response = await realFetch(input, init);
      const url = input instanceof Request ? input.url : String(input);
      if (!url.includes("/identity/groups") || !response.ok) return response;
      const body = (await response.json()) as { checkedAt: number };
      return Response.json({ ...body, checkedAt: body.checkedAt - (TTL - 1) });
    };
  });
  afterAll(() => {
    globalThis.fetch = realFetch;
  });

  it("ends, with its result (the protocol's end of a listen), once the groups it was signed with are older than the TTL", async () => {
    const edge = groupsEdge({ GROUPS_SOURCE: "google-directory", GROUPS_TTL_SECONDS: String(TTL) });
    await setOriginGroups(edge, "dev@example.com", ["eng@example.com"]);
    const tokens = await signedIn(edge);
    // The origin acknowledges the listen and never ends it, as a healthy origin does.
    await realFetch(`${edge.origin}/_control/answer`, { method: "POST", body: JSON.stringify({ sse: [ACK], hold: true }) });
    const call = startEdgeCall(
      "/mcp/everything",
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${tokens.access_token}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2026-07-28",
          "mcp-method": "subscriptions/listen",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "subscriptions/listen", params: {} }),
      },
      edge.env,
    );
    const response = await call.response;
    expect(response.status).toBe(200);
    const events = (await readAll(response.body)).split("\n\n").filter((event) => event.trim() !== "");
    expect(events[0]).toContain("notifications/subscriptions/acknowledged");
    const last = JSON.parse(events.at(-1)?.split("data: ")[1] ?? "{}");
    expect(last).toEqual({ jsonrpc: "2.0", id: 7, result: { _meta: { "io.modelcontextprotocol/subscriptionId": 7 } } });
    await call.settled();
  });
});

describe("the end of a relayed listen", () => {
  it("is written after the origin's event being relayed, never into it, and stops reading the origin", async () => {
    const encoder = new TextEncoder();
    let origin!: ReadableStreamDefaultController<Uint8Array>;
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        origin = controller;
      },
      cancel() {
        cancelled = true;
      },
    });
    const relayed = listenUntil(new Response(body, { headers: { "content-type": "text/event-stream" } }), nowSeconds(), 3);
    const reader = (relayed.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    // Half an event when the bound has already passed: the rest of it comes first.
    origin.enqueue(encoder.encode('event: message\ndata: {"jsonrpc":"2.0",'));
    let text = (await reader.read()).value ?? "";
    // The bound's timer (due at once, set before this one) fires now, between the two halves.
    await new Promise((resolve) => setTimeout(resolve, 0));
    origin.enqueue(encoder.encode('"method":"notifications/tools/list_changed"}\n\n'));
    for (let read = await reader.read(); !read.done; read = await reader.read()) text += read.value;
    expect(text.split("\n\n").filter((event) => event !== "")).toEqual([
      'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}',
      `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: 3, result: { _meta: { "io.modelcontextprotocol/subscriptionId": 3 } } })}`,
    ]);
    expect(cancelled).toBe(true);
  });
});

describe("a 2025-era session's GET stream", () => {
  const sessions = () => (testEnv() as EdgeEnv).MCP_SESSION ?? (env as unknown as EdgeEnv).MCP_SESSION;
  const DEV: SessionIdentity = { sub: "dev", email: "dev@example.com", groups: ["eng"], clientId: "client-1", server: "alpha" };

  async function session(originUrl?: string) {
    const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "x");
    const stub: DurableObjectStub<McpSession> = sessions().get(sessions().idFromName(sessionId));
    const record: SessionRecord = {
      sessionId,
      identity: DEV,
      initialize: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } },
      discover: {
        serverInfo: { name: "alpha", version: "1" },
        capabilities: { tools: { listChanged: true }, resources: { subscribe: true } },
      },
      subscriptions: [],
      createdAt: Date.now(),
    };
    await runInDurableObject(stub, async (_instance, state) => void state.storage.kv.put("record", record));
    const origin = `${inject("groupsOriginUrl")}/g-${crypto.randomUUID().slice(0, 8)}`;
    // Every listen is acknowledged, told of one change, and held open.
    await fetch(`${origin}/_control/answer`, { method: "POST", body: JSON.stringify({ sse: [ACK, CHANGED], hold: true }) });
    const link = originLinkOf(testEnv({ ORIGIN_URL: originUrl ?? origin }));
    const open = (caller: SessionIdentity, lastEventId?: string) => holdSessionStream(stub, link, caller, sessionId, lastEventId);
    const listens = async () =>
      ((await (await fetch(`${origin}/_control/seen`)).json()) as { path: string; claims: { groups?: unknown } }[]).filter(
        (seen) => seen.path.startsWith("/servers/"),
      );
    return { stub, sessionId, open, listens };
  }

  /** The `id:` of each event of an SSE text, and its data's method. */
  const eventsOf = (text: string) =>
    text
      .split("\n\n")
      .filter((event) => event.startsWith("id: "))
      .map((event) => ({ id: event.slice(4, event.indexOf("\n")), method: JSON.parse(event.split("data: ")[1] ?? "{}").method }));

  it("ends once its caller's groups are older than the TTL, and its client, still allowed, reopens it and misses nothing", async () => {
    const { open, listens } = await session();
    const first = await open({ ...DEV, groupsFreshUntil: nowSeconds() + 1, tokenExpiresAt: nowSeconds() + 3600 });
    expect(first.status).toBe(200);
    const before = eventsOf(await readAll(first.body));
    expect(before.map((event) => event.method)).toEqual(["notifications/tools/list_changed"]);
    // The client (both SDKs do this when a GET stream ends) reconnects with its Last-Event-ID and fresh credentials.
    const fresh = { ...DEV, groups: ["eng", "ops"], groupsFreshUntil: nowSeconds() + 900 };
    const reopened = await open(fresh, before[0]?.id);
    const reader = (reopened.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    // The origin's own change, and the announcement of every list that may have changed while no stream was open.
    while (eventsOf(text).length < 2) text += (await reader.read()).value ?? "";
    await reader.cancel();
    expect(eventsOf(text).map((event) => event.method)).toEqual([
      "notifications/tools/list_changed",
      "notifications/tools/list_changed",
    ]);
    expect((await listens()).map((seen) => seen.claims.groups)).toEqual([["eng"], ["eng", "ops"]]);
  });

  it("ends once its caller's token has expired", async () => {
    const { open } = await session();
    const stream = await open({ ...DEV, tokenExpiresAt: nowSeconds() + 1 });
    const text = await readAll(stream.body);
    expect(eventsOf(text).map((event) => event.method)).toEqual(["notifications/tools/list_changed"]);
    // Its listen had begun: its client may reconnect at once.
    expect(text).not.toContain("retry:");
  });

  // s27 failure hunt F4: with the origin down, each such stream ended at once and its client reconnected every second.
  it("asks its client to wait before reconnecting when its listen could not begin (the origin unreachable)", async () => {
    const { open } = await session("http://127.0.0.1:1");
    const text = await readAll((await open(DEV)).body);
    expect(text).toContain(`retry: ${ORIGIN_RETRY_AFTER_SECONDS * 1000}\n\n`);
  });

  it("never listens again with the groups it opened with: a removed user's resources/subscribe reaches no upstream under them", async () => {
    const { stub, sessionId, open, listens } = await session();
    const bound = nowSeconds() + 1;
    const stream = await open({ ...DEV, groupsFreshUntil: bound });
    const reader = (stream.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (eventsOf(text).length < 1) text += (await reader.read()).value ?? "";
    // Past the TTL (by the clock the code reads) the user's groups were read again: none. The session answers the
    // subscribe itself, and tells the invocation holding the stream, if it still holds one.
    await expect.poll(() => Date.now() > bound * 1000, { timeout: 5000 }).toBe(true);
    const removed = { ...DEV, groups: [], groupsFreshUntil: nowSeconds() + 900 };
    const subscribe = {
      url: "http://localhost:8787/mcp/alpha",
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-11-25",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "resources/subscribe", params: { uri: "alpha://other" } }),
    };
    expect((await asResponse(await stub.serve(subscribe, removed, sessionId))).status).toBe(200);
    // Its client opens the stream again: the listen for the new subscription is signed with the groups read now (which
    // the origin's policy refuses), and no listen before it with the old ones.
    const reopened = await open(removed);
    await expect.poll(async () => (await listens()).length).toBe(2);
    await reopened.body?.cancel();
    await reader.cancel();
    expect((await listens()).map((seen) => seen.claims.groups)).toEqual([["eng"], []]);
  });
});

// s27 failure hunt F4's rest: a GET stream is answered 200 before its listen is tried, and was audited ok even when the
// listen could not begin. Its row now says how the listen began, as a 2026-07-28 listen's does.
describe("a 2025-era session's GET stream, in the audit trail", () => {
  /** The audit rows of a signed-in user's GET stream, its origin answering the listen with `answer`. */
  async function auditedStream(answer: unknown): Promise<AuditEvent[]> {
    const edge = groupsEdge({});
    const { access_token } = await signedIn(edge);
    const bearer = { authorization: `Bearer ${access_token}`, accept: "application/json, text/event-stream" };
    // A 2026-07-28 call first, to learn whom the origin is told the caller is; the session is theirs.
    const call = { jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: { [MODERN_VERSION]: "2026-07-28" } } };
    const headers = {
      ...bearer,
      "content-type": "application/json",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/list",
    };
    expect((await edge.call("/mcp/everything", { method: "POST", headers, body: JSON.stringify(call) })).status).toBe(200);
    const { sub, client_id } = ((await originSaw(edge)).at(-1)?.claims ?? {}) as { sub: string; client_id: string };
    const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "x");
    const record: SessionRecord = {
      sessionId,
      identity: { sub, email: "dev@example.com", groups: [], clientId: client_id, server: "everything" },
      initialize: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } },
      discover: { serverInfo: { name: "everything", version: "1" }, capabilities: { tools: { listChanged: true } } },
      subscriptions: [],
      createdAt: Date.now(),
    };
    const sessions = (env as unknown as EdgeEnv).MCP_SESSION;
    const stub = sessions.get(sessions.idFromName(sessionId));
    await runInDurableObject(stub, async (_instance, state) => void state.storage.kv.put("record", record));
    await fetch(`${edge.origin}/_control/answer`, { method: "POST", body: JSON.stringify(answer) });
    const audit = capturedAudit();
    const get = { method: "GET", headers: { ...bearer, "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" } };
    const stream = startEdgeCall("/mcp/everything", get, { ...edge.env, ...audit.env });
    const reader = ((await stream.response).body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    // Read until the origin's change arrives, or the stream ends.
    for (let read = await reader.read(); !read.done && !read.value.includes("list_changed"); read = await reader.read());
    await reader.cancel();
    await stream.settled();
    return audit.events.filter((event) => event.method === "stream/open");
  }

  it("is ok once the origin acknowledged its listen", async () => {
    const events = await auditedStream({ sse: [ACK, CHANGED], hold: true });
    expect(events).toMatchObject([{ kind: "mcp.request", server: "everything", outcome: "ok", httpStatus: 200 }]);
  });

  it("is unavailable when its listen could not begin (the origin ended it unacknowledged)", async () => {
    const events = await auditedStream({ sse: [] });
    expect(events).toMatchObject([{ kind: "mcp.request", server: "everything", outcome: "unavailable", httpStatus: 200 }]);
  });
});
