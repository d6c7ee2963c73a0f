import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it, vi } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import { hashUserId } from "../../worker/analytics/user-hash.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import { edgeConfig } from "../../worker/config.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { HELD_AUDIT_CHECK_MS, HeldAudits } from "../../worker/mcp/bridge/held-audits.ts";
import type { SessionIdentity, SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import type { SessionHttpRequest } from "../../worker/mcp/bridge/session-request.ts";
import { SESSION_LIMIT_CODE } from "../../worker/mcp/bridge/session-server.ts";
import { testEnv } from "./edge-env.ts";

// A 2025-era session object holds the audit of each call it answers over SSE in storage until its event is queued.
// Here the session ends, or the object restarts, while such a call is in flight.

const sessions = () => (testEnv() as EdgeEnv).MCP_SESSION ?? (env as unknown as EdgeEnv).MCP_SESSION;
const ALICE: SessionIdentity = {
  sub: "alice",
  email: "alice@example.com",
  groups: [],
  clientId: "client-1",
  server: "everything",
};
const DAY_MS = 24 * 60 * 60 * 1000;
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

const record = (sessionId: string): SessionRecord => ({
  sessionId,
  identity: ALICE,
  initialize: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "test-client", version: "1.0.0" } },
  discover: { serverInfo: { name: "everything", version: "1.0.0" }, capabilities: { tools: {} } },
  subscriptions: [],
  createdAt: Date.now(),
});

/** A queue that refuses every send while `refusing.now`, else keeps what it is sent. */
function queue() {
  const sent: AuditEvent[] = [];
  const refusing = { now: false };
  const send = async (body: AuditEvent | AuditEvent[]) => {
    if (refusing.now) throw new Error("queue unavailable");
    sent.push(...[body].flat());
  };
  const sendBatch = async (messages: { body: AuditEvent | AuditEvent[] }[]) => {
    for (const message of messages) await send(message.body);
  };
  return { sent, refusing, env: { AUDIT_QUEUE: { send, sendBatch } } as unknown as Partial<EdgeEnv> };
}

const useQueue = (stub: DurableObjectStub<McpSession>, overrides: Partial<EdgeEnv>) =>
  runInDurableObject(stub, (instance) => {
    const object = instance as unknown as { env: EdgeEnv };
    object.env = { ...object.env, ORIGIN_URL: inject("slowStreamUrl"), ...overrides };
  });

/** The slow origin's path where a call's answer never finishes: the call is in flight until the session ends. */
const ENDLESS = () => ({ ORIGIN_URL: `${inject("slowStreamUrl")}/endless` });

/**
 * A session whose call streams (the slow origin answers 1.5 s later; never under ENDLESS), the call's response drained
 * into `answer`, which settles with everything the client was sent once the stream ends.
 */
async function callInFlight(overrides: Partial<EdgeEnv>) {
  const { stub, answer } = await callInFlightAnswered(overrides);
  void answer.catch(() => {});
  return stub;
}

async function callInFlightAnswered(overrides: Partial<EdgeEnv>) {
  const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "e");
  const stub = sessions().get(sessions().idFromName(sessionId)) as DurableObjectStub<McpSession>;
  await runInDurableObject(stub, (_instance, state) => state.storage.kv.put("record", record(sessionId)));
  await useQueue(stub, overrides);
  const call: SessionHttpRequest = {
    url: "http://localhost:8787/mcp/everything",
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      "mcp-session-id": sessionId,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: {} } }),
  };
  const response = (await stub.serve(call, ALICE, sessionId, { ...CALL, started: Date.now() })) as Response;
  return { stub, answer: response.text() };
}

const storageOf = (stub: DurableObjectStub<McpSession>) =>
  runInDurableObject(stub, async (_instance, state) => ({
    held: new HeldAudits(state.storage).all().length,
    keys: [...state.storage.kv.list()].map(([key]) => key),
    alarm: await state.storage.getAlarm(),
  }));

describe("a 2025-era session that ends with a call in flight", () => {
  it("keeps the call's held audit, and an alarm, when the queue refuses its event; the alarm records it later", async () => {
    const { sent, refusing, env } = queue();
    refusing.now = true;
    const stub = await callInFlight({ ...env, ...ENDLESS() });
    expect((await storageOf(stub)).held).toBe(1);
    await stub.evict(); // past its user's sessionsPerUser: as its idle alarm or a DELETE would end it
    const left = await storageOf(stub);
    // The session is gone (no record), its unqueued audit is not.
    expect(left.keys.every((key) => key.startsWith("held-audit:"))).toBe(true);
    expect(left.held).toBe(1);
    expect(left.alarm).not.toBeNull();
    expect(left.alarm as number).toBeLessThanOrEqual(Date.now() + HELD_AUDIT_CHECK_MS);

    refusing.now = false;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent.filter((event) => event.method === "tools/call")).toHaveLength(1);
    expect(await storageOf(stub)).toEqual({ held: 0, keys: [], alarm: null });
  });

  it("deletes everything once the queue took the call's event", async () => {
    const { sent, env } = queue();
    const stub = await callInFlight({ ...env, ...ENDLESS() });
    await stub.evict();
    expect(sent.filter((event) => event.method === "tools/call")).toHaveLength(1);
    expect(await storageOf(stub)).toEqual({ held: 0, keys: [], alarm: null });
  });

  // s24 observability hunt F5: a call of a session ended for sessionsPerUser was told the origin's answer broke off
  // ("try again", which in a new session ends another busy one), audited as the client's `cancelled`, and not logged.
  it("ended past sessionsPerUser: its call is answered so, audited `error` with its own code, and one line logged", async () => {
    const { sent, env } = queue();
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const { stub, answer } = await callInFlightAnswered({ ...env, ...ENDLESS(), SESSIONS_PER_USER: "3" });
      await stub.evict();
      const told = (await answer).split("\n").find((line) => line.startsWith("data: ") && line.includes('"error"'));
      expect(JSON.parse(told?.slice("data: ".length) ?? "null")).toEqual({
        jsonrpc: "2.0",
        id: 1,
        error: {
          code: SESSION_LIMIT_CODE,
          message: expect.stringContaining("ended because its user opened more than sessionsPerUser (3) sessions"),
        },
      });
      const calls = sent.filter((event) => event.method === "tools/call");
      expect(calls.map(({ outcome, errorCode }) => ({ outcome, errorCode }))).toEqual([
        { outcome: "error", errorCode: SESSION_LIMIT_CODE },
      ]);
      const lines = warned.mock.calls.map((args) => args.join(" ")).filter((line) => line.includes("sessionsPerUser"));
      expect(lines).toHaveLength(1);
      const pseudonym = await hashUserId(edgeConfig(testEnv() as EdgeEnv), ALICE.sub);
      expect(lines[0]).toContain(`user ${pseudonym} opened more than sessionsPerUser (3) sessions; 1 call(s) in flight`);
      expect(lines[0]).not.toContain(ALICE.email);
    } finally {
      warned.mockRestore();
    }
  });
});

describe("a 2025-era session's held audit and its alarm", () => {
  it("has the alarm look for it within a minute (not at the idle alarm), which then goes back to idling", async () => {
    const { sent, env } = queue();
    const stub = await callInFlight(env);
    const holding = await storageOf(stub);
    expect(holding.held).toBe(1);
    // Were the object restarted now, this alarm would record the audit (held-audits.test.ts): not a day later.
    expect(holding.alarm as number).toBeLessThanOrEqual(Date.now() + HELD_AUDIT_CHECK_MS);
    await expect.poll(() => sent.filter((event) => event.method === "tools/call").length, { timeout: 4_000 }).toBe(1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = await storageOf(stub);
    expect(after.held).toBe(0);
    expect(after.keys).toContain("record");
    expect(after.alarm as number).toBeGreaterThan(Date.now() + DAY_MS - 60 * 60 * 1000);
  });

  it("held past a restart does not keep the session alive when its user's registry evicts it: it is recorded", async () => {
    const { sent, env } = queue();
    const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "r");
    const stub = sessions().get(sessions().idFromName(sessionId)) as DurableObjectStub<McpSession>;
    // As after a restart: the record and the held audit in storage, nothing in memory.
    await runInDurableObject(stub, async (_instance, state) => {
      state.storage.kv.put("record", record(sessionId));
      new HeldAudits(state.storage).hold(CALL);
      await state.storage.setAlarm(Date.now() + HELD_AUDIT_CHECK_MS);
    });
    await useQueue(stub, env);
    await stub.evict();
    expect(sent.map(({ method, tool }) => ({ method, tool }))).toEqual([{ method: "tools/call", tool: "echo" }]);
    expect(await storageOf(stub)).toEqual({ held: 0, keys: [], alarm: null });
  });
});
