import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { type DirectAnswer, isDirectAnswer } from "../../worker/mcp/bridge/direct-answer.ts";
import { StorageEventStore } from "../../worker/mcp/bridge/event-store.ts";
import type { SessionIdentity, SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import type { SessionHttpRequest } from "../../worker/mcp/bridge/session-request.ts";
import { capturedAudit } from "./audit-capture.ts";
import { testEnv } from "./edge-env.ts";

// How a 2025-era session object answers (and so how the Worker audits) a cancelled call, a server the policy refuses,
// and when its idle alarm ends it.

const sessions = () => (testEnv() as EdgeEnv).MCP_SESSION ?? (env as unknown as EdgeEnv).MCP_SESSION;
const ALICE: SessionIdentity = {
  sub: "alice",
  email: "alice@example.com",
  groups: [],
  clientId: "client-1",
  server: "everything",
};
const DAY_MS = 24 * 60 * 60 * 1000;

function record(sessionId: string): SessionRecord {
  return {
    sessionId,
    identity: ALICE,
    initialize: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "test-client", version: "1.0.0" } },
    discover: { serverInfo: { name: "everything", version: "1.0.0" }, capabilities: { tools: {} } },
    subscriptions: [],
    createdAt: Date.now(),
  };
}

/** A session object for a new id, its origin at `origin`; with a stored record unless `stored` is false. */
async function session(origin: string, stored = true, extra: Partial<EdgeEnv> = {}) {
  const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "a");
  const stub = sessions().get(sessions().idFromName(sessionId)) as DurableObjectStub<McpSession>;
  await runInDurableObject(stub, (instance, state) => {
    const object = instance as unknown as { env: EdgeEnv };
    object.env = { ...object.env, ORIGIN_URL: origin, ...extra };
    if (stored) state.storage.kv.put("record", record(sessionId));
  });
  return { stub, sessionId };
}

const post = (sessionId: string | undefined, message: Record<string, unknown>): SessionHttpRequest => ({
  url: "http://localhost:8787/mcp/everything",
  method: "POST",
  headers: {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
    ...(sessionId && { "mcp-session-id": sessionId }),
  },
  body: JSON.stringify({ jsonrpc: "2.0", ...message }),
});

/** An origin (groups-origin-setup.ts) that answers every MCP request with `answer`. */
async function answeringOrigin(answer: unknown): Promise<string> {
  const origin = `${inject("groupsOriginUrl")}/s-${crypto.randomUUID().slice(0, 8)}`;
  await fetch(`${origin}/_control/answer`, { method: "POST", body: JSON.stringify(answer) });
  return origin;
}

describe("a 2025-era call cancelled on the short way (notifications/cancelled)", () => {
  it("is answered, and labelled for the audit, as cancelled (-32800), not as an answer that broke off", async () => {
    const { stub, sessionId } = await session(inject("holdingUrl"));
    const call = stub.serve(
      post(sessionId, { id: 5, method: "tools/call", params: { name: "echo", arguments: {} } }),
      ALICE,
      sessionId,
    );
    // The call waits for the origin's first word (which never comes) on the short way; then its client cancels it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cancel = post(sessionId, { method: "notifications/cancelled", params: { requestId: 5, reason: "user gave up" } });
    await stub.serve(cancel, ALICE, sessionId);
    const answered = (await call) as DirectAnswer;
    expect(isDirectAnswer(answered)).toBe(true);
    expect(JSON.parse(answered.json)).toMatchObject({ id: 5, error: { code: -32800 } });
    expect(answered.outcome).toBe("cancelled -32800");
  });
});

describe("a 2025-era call whose origin cannot be reached (the short way)", () => {
  const call = (sessionId: string) => post(sessionId, { id: 6, method: "tools/call", params: { name: "echo", arguments: {} } });

  it("is labelled unavailable, as a 2026-07-28 client's is, not error under the -32000 upstreams use too", async () => {
    const { stub, sessionId } = await session("http://127.0.0.1:9");
    const answered = (await stub.serve(call(sessionId), ALICE, sessionId)) as DirectAnswer;
    expect(isDirectAnswer(answered)).toBe(true);
    expect(JSON.parse(answered.json)).toMatchObject({ id: 6, error: { code: -32000 } });
    expect(answered.outcome).toBe("unavailable -32000");
  });

  it("but an upstream's own -32000 error, answered through the origin, stays error", async () => {
    const boom = { jsonrpc: "2.0", id: 6, error: { code: -32000, message: "boom" } };
    const { stub, sessionId } = await session(await answeringOrigin(boom));
    const answered = (await stub.serve(call(sessionId), ALICE, sessionId)) as DirectAnswer;
    expect(JSON.parse(answered.json)).toMatchObject({ id: 6, error: { code: -32000, message: "boom" } });
    expect(answered.outcome).toBe("error -32000");
  });
});

describe("a 2025-era initialize on a server the policy refuses the user", () => {
  it("is refused 403 with the origin's -32003 and its reason, as for a 2026-07-28 client, not 502 unavailable", async () => {
    const refusal = { code: -32003, message: 'refused by policy: no policy rule allows you to use server "everything"' };
    const { stub, sessionId } = await session(await answeringOrigin({ jsonrpc: "2.0", id: null, error: refusal }), false);
    const initialize = { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } };
    const response = (await stub.serve(
      post(undefined, { id: 0, method: "initialize", params: initialize }),
      ALICE,
      sessionId,
    )) as Response;
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ id: 0, error: refusal });
  });

  it("but an upstream's own -32003 (under the request's id) is not taken for the policy's: the server is unavailable", async () => {
    const upstream = { code: -32003, message: "the upstream's own words" };
    const { stub, sessionId } = await session(await answeringOrigin({ jsonrpc: "2.0", id: "discover", error: upstream }), false);
    const initialize = { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "2" } };
    const response = (await stub.serve(
      post(undefined, { id: 0, method: "initialize", params: initialize }),
      ALICE,
      sessionId,
    )) as Response;
    expect(response.status).toBe(502);
    expect(JSON.stringify(await response.json())).not.toContain("the upstream's own words");
  });
});

describe("a 2025-era session's idle alarm", () => {
  const ping = (sessionId: string, id: number) => post(sessionId, { id, method: "ping" });
  const alive = (stub: DurableObjectStub<McpSession>) =>
    runInDurableObject(stub, async (_instance, state) => ({
      record: state.storage.kv.get("record") !== undefined,
      alarm: await state.storage.getAlarm(),
    }));

  it("keeps a session used since the alarm was set, and sets the alarm again for 24 h after that use", async () => {
    const { stub, sessionId } = await session("http://127.0.0.1:9");
    await stub.serve(ping(sessionId, 1), ALICE, sessionId);
    // The alarm was set an hour ago, the session used since (a request pushes the alarm back at most hourly).
    const usedAt = Date.now();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const { record, alarm } = await alive(stub);
    expect(record).toBe(true);
    expect(alarm).toBeGreaterThanOrEqual(usedAt + DAY_MS - 60_000);
    expect(alarm).toBeLessThanOrEqual(Date.now() + DAY_MS);
  });

  it("ends a session whose last use is 24 h old", async () => {
    const { stub } = await session("http://127.0.0.1:9");
    // Nothing in memory (as after an eviction): only storage knows the last use.
    await runInDurableObject(stub, async (_instance, state) => {
      state.storage.kv.put("usedAt", Date.now() - DAY_MS - 1);
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await alive(stub)).toEqual({ record: false, alarm: null });
  });
});

describe("a 2025-era call answered over the session's stream (the session server)", () => {
  const CALL: RequestAudit = {
    started: Date.now(),
    kind: "mcp.request",
    userSub: "alice",
    clientId: "client-1",
    server: "everything",
    method: "tools/call",
    tool: "echo",
    protocolVersion: "2025-11-25",
  };
  // The slow origin streams progress first (so the call leaves the short way) and answers 1.5 s later.
  const streamed = async () => {
    const audit = capturedAudit();
    const { stub, sessionId } = await session(inject("slowStreamUrl"), true, audit.env as Partial<EdgeEnv>);
    const call = post(sessionId, { id: 1, method: "tools/call", params: { name: "echo", arguments: {} } });
    const response = (await stub.serve(call, ALICE, sessionId, { ...CALL, started: Date.now() })) as Response;
    const calls = () => audit.events.filter((event) => event.method === "tools/call");
    return { stub, sessionId, response, calls };
  };

  it("is audited by the object at its answer, with its outcome, though the client dropped the stream", async () => {
    const { response, calls } = await streamed();
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    // The Worker leaves the audit to the object (and keeps the header from the client).
    expect(response.headers.get("mcp-edge-session-audits")).toBe("1");
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel(); // a network change: the client will resume with Last-Event-ID
    expect(calls()).toEqual([]);
    await expect.poll(() => calls().length, { timeout: 4_000 }).toBe(1);
    expect(calls()[0]).toMatchObject({ outcome: "ok", httpStatus: 200, protocolVersion: "2025-11-25" });
    expect(calls()[0]?.responseBytes).toBeGreaterThan(0);
  });

  it("is audited cancelled -32800 when its client cancels it", async () => {
    const { stub, sessionId, response, calls } = await streamed();
    void response.body?.pipeTo(new WritableStream()).catch(() => {});
    const cancel = post(sessionId, { method: "notifications/cancelled", params: { requestId: 1 } });
    await stub.serve(cancel, ALICE, sessionId);
    await expect.poll(() => calls().length, { timeout: 1_000 }).toBe(1);
    expect(calls()[0]).toMatchObject({ outcome: "cancelled", errorCode: -32800 });
  });

  // Ended past sessionsPerUser instead, it is `error` with the limit's own code (session-end-audits.test.ts).
  it("is audited cancelled when its client deletes the session before its answer", async () => {
    const { stub, sessionId, response, calls } = await streamed();
    void response.body?.pipeTo(new WritableStream()).catch(() => {});
    const deleted = await stub.serve({ ...post(sessionId, {}), method: "DELETE", body: undefined }, ALICE, sessionId);
    expect((deleted as Response).status).toBe(200);
    await expect.poll(() => calls().length, { timeout: 1_000 }).toBe(1);
    expect(calls()[0]).toMatchObject({ outcome: "cancelled", responseBytes: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1_800));
    expect(calls()).toHaveLength(1);
  });

  it("is audited unavailable when the origin's answer breaks off, as for a 2026-07-28 client", async () => {
    const audit = capturedAudit();
    const progress = { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1 } };
    const origin = await answeringOrigin({ sse: [progress] });
    const { stub, sessionId } = await session(origin, true, audit.env as Partial<EdgeEnv>);
    const call = post(sessionId, { id: 1, method: "tools/call", params: { name: "echo", arguments: {} } });
    const response = (await stub.serve(call, ALICE, sessionId, { ...CALL, started: Date.now() })) as Response;
    expect(await response.text()).toContain('"code":-32000');
    await expect.poll(() => audit.events.length, { timeout: 1_000 }).toBe(1);
    expect(audit.events[0]).toMatchObject({ method: "tools/call", outcome: "unavailable", errorCode: -32000 });
  });

  it("is audited under the server the origin routed it to on /mcp, though its answer streamed", async () => {
    const audit = capturedAudit();
    const progress = { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1 } };
    const result = { jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "done" }] } };
    const origin = await answeringOrigin({ sse: [progress, result], headers: { "mcp-answer-route": "filesystem read_file" } });
    const { stub, sessionId } = await session(origin, true, audit.env as Partial<EdgeEnv>);
    // A public name cut to 64 characters ends in a hash only the origin's router reads back.
    const shortened = `filesystem__${"r".repeat(40)}_0123456789ab`;
    const call = post(sessionId, { id: 1, method: "tools/call", params: { name: shortened, arguments: {} } });
    const facts = { ...CALL, server: "*", tool: shortened, started: Date.now() };
    const response = (await stub.serve(call, ALICE, sessionId, facts)) as Response;
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(await response.text()).toContain('"done"');
    await expect.poll(() => audit.events.length, { timeout: 2_000 }).toBe(1);
    expect(audit.events[0]).toMatchObject({ server: "filesystem", tool: "read_file", outcome: "ok" });
  });

  it("is left to the Worker when the object has no audit for it (a batch, or an older Worker)", async () => {
    const audit = capturedAudit();
    const { stub, sessionId } = await session(inject("slowStreamUrl"), true, audit.env as Partial<EdgeEnv>);
    const call = post(sessionId, { id: 1, method: "tools/call", params: { name: "echo", arguments: {} } });
    const response = (await stub.serve(call, ALICE, sessionId)) as Response;
    expect(response.headers.has("mcp-edge-session-audits")).toBe(false);
    await response.body?.pipeTo(new WritableStream());
    expect(audit.events).toEqual([]);
  });
});

// s27 failure hunt F6: a client resuming a POST stream after the object restarted got 204, and its call hung until the
// client's own timeout: the object could not tell an answer that went out from a request lost with the old incarnation.
describe("a 2025-era call's stream resumed (Last-Event-ID)", () => {
  const resume = (sessionId: string, lastEventId: string): SessionHttpRequest => ({
    url: "http://localhost:8787/mcp/everything",
    method: "GET",
    headers: {
      accept: "text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      "mcp-session-id": sessionId,
      "last-event-id": lastEventId,
    },
    body: undefined,
  });
  const CALL: RequestAudit = { kind: "mcp.request", method: "tools/call", tool: "echo", started: 0 };
  const ids = (text: string) => [...text.matchAll(/^id: (\S+)$/gm)].map((match) => match[1] as string);

  it("after its answer went out, brings nothing more (204); while in flight, its request is kept by its stream", async () => {
    const { stub, sessionId } = await session(inject("slowStreamUrl"));
    const call = post(sessionId, { id: 4, method: "tools/call", params: { name: "echo", arguments: {} } });
    const response = (await stub.serve(call, ALICE, sessionId, { ...CALL, started: Date.now() })) as Response;
    const reader = (response.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let text = (await reader.read()).value ?? "";
    const stream = ids(text)[0]?.replace(/_\d+$/, "");
    expect(stream).toBeDefined();
    const kept = () => runInDurableObject(stub, (_instance, state) => state.storage.kv.get(`stream-request:${stream}`));
    expect(await kept()).toBe(4);
    for (let read = await reader.read(); !read.done; read = await reader.read()) text += read.value;
    expect(text).toContain('"result"');
    await expect.poll(kept).toBeUndefined();
    const last = ids(text).at(-1) as string;
    expect(((await stub.serve(resume(sessionId, last), ALICE, sessionId)) as Response).status).toBe(204);
  });

  it("after its request was lost with an earlier incarnation of the object, gets that request's error, once", async () => {
    const { stub, sessionId } = await session(inject("slowStreamUrl"));
    // What a restart leaves: the stream's priming event logged, its request kept, nothing worked on any more.
    const primed = await runInDurableObject(stub, async (_instance, state) => {
      state.storage.kv.put("stream-request:lost-stream", 7);
      return new StorageEventStore(state.storage.kv).storeEvent("lost-stream", {} as never);
    });
    const answered = (await stub.serve(resume(sessionId, primed), ALICE, sessionId)) as Response;
    expect(answered.status).toBe(200);
    expect(answered.headers.get("content-type")).toContain("text/event-stream");
    const event = JSON.parse((await answered.text()).split("data: ")[1] ?? "{}");
    expect(event).toMatchObject({ id: 7, error: { code: -32000 } });
    expect(event.error.message).toContain("lost when the session restarted");
    expect(((await stub.serve(resume(sessionId, primed), ALICE, sessionId)) as Response).status).toBe(204);
  });
});
