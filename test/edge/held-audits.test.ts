import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { HeldAudits } from "../../worker/mcp/bridge/held-audits.ts";
import { capturedAudit } from "./audit-capture.ts";
import { testEnv } from "./edge-env.ts";

// A 2024-11-05 session's object holds each request's audit in storage until the answer is sent on the stream. Here the
// object "restarted" with one held: its storage has the audit and the alarm, its memory nothing (no stream).
const sessions = () => (testEnv() as EdgeEnv).MCP_SESSION ?? (env as unknown as EdgeEnv).MCP_SESSION;

const CALL: RequestAudit = {
  started: Date.now() - 5_000,
  kind: "mcp.request",
  userSub: "alice",
  userEmail: "alice@example.com",
  clientId: "client-1",
  server: "everything",
  method: "tools/call",
  tool: "echo",
  protocolVersion: "2024-11-05",
  arguments: { message: "hello" },
};

describe("a 2024-11-05 session's held audits", () => {
  it("are recorded by the alarm of an object that restarted before the answers, as requests without one", async () => {
    const stub = sessions().get(sessions().idFromName(crypto.randomUUID())) as DurableObjectStub<McpSession>;
    const audit = capturedAudit();
    const ids: string[] = [];
    await runInDurableObject(stub, async (instance, state) => {
      ids.push(new HeldAudits(state.storage).hold(CALL).id);
      ids.push(new HeldAudits(state.storage).hold({ ...CALL, tool: "add" }).id);
      await state.storage.setAlarm(Date.now() + 60_000);
      // The queue this test reads, in place of the object's binding.
      const object = instance as unknown as { env: EdgeEnv };
      object.env = { ...object.env, ...(audit.env as Partial<EdgeEnv>) };
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const recorded = audit.events.map(({ tool, outcome, httpStatus, method }) => ({ tool, outcome, httpStatus, method }));
    expect(recorded.sort((a, b) => String(a.tool).localeCompare(String(b.tool)))).toEqual([
      { tool: "add", outcome: "error", httpStatus: 202, method: "tools/call" },
      { tool: "echo", outcome: "error", httpStatus: 202, method: "tools/call" },
    ]);
    const echo = audit.events.find((event) => event.tool === "echo");
    expect(echo).toMatchObject({ userSub: "alice", protocolVersion: "2024-11-05", arguments: { message: "hello" } });
    expect(echo?.latencyMs).toBeGreaterThanOrEqual(5_000);
    // Under the ids fixed when they were held: recorded twice (by the request and the alarm), still one row each.
    expect(audit.events.map((event) => event.id).sort()).toEqual([...ids].sort());
    await runInDurableObject(stub, (_instance, state) => {
      expect(new HeldAudits(state.storage).any).toBe(false);
    });
  });

  it("keeps every one the queue refused for the next alarm, and the session's storage with them", async () => {
    const stub = sessions().get(sessions().idFromName(crypto.randomUUID())) as DurableObjectStub<McpSession>;
    let refuse = true;
    const sent: unknown[] = [];
    const queue = {
      send: async (body: unknown) => {
        if (refuse) throw new Error("queue unavailable");
        sent.push(body);
      },
    };
    await runInDurableObject(stub, async (instance, state) => {
      // Two: recorded by one alarm, they must not share a fate they cannot both see.
      new HeldAudits(state.storage).hold(CALL);
      new HeldAudits(state.storage).hold({ ...CALL, tool: "add" });
      await state.storage.setAlarm(Date.now() + 60_000);
      const object = instance as unknown as { env: EdgeEnv };
      object.env = { ...object.env, AUDIT_QUEUE: queue as unknown as EdgeEnv["AUDIT_QUEUE"] };
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toEqual([]);
    await runInDurableObject(stub, async (_instance, state) => {
      expect(new HeldAudits(state.storage).all()).toHaveLength(2);
      expect(await state.storage.getAlarm()).not.toBeNull();
    });
    refuse = false;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent.flat()).toHaveLength(2);
    await runInDurableObject(stub, (_instance, state) => {
      expect(new HeldAudits(state.storage).any).toBe(false);
    });
  });

  it("drops one in a shape it cannot record (an earlier release's), records the others, and ends the session", async () => {
    const stub = sessions().get(sessions().idFromName(crypto.randomUUID())) as DurableObjectStub<McpSession>;
    const audit = capturedAudit();
    await runInDurableObject(stub, async (instance, state) => {
      state.storage.kv.put("record", { sessionId: "s" });
      state.storage.kv.put("held-audit:older-shape", CALL);
      new HeldAudits(state.storage).hold(CALL);
      await state.storage.setAlarm(Date.now() + 60_000);
      const object = instance as unknown as { env: EdgeEnv };
      object.env = { ...object.env, ...(audit.env as Partial<EdgeEnv>) };
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(audit.events).toHaveLength(1);
    const left = await runInDurableObject(stub, async (_instance, state) => ({
      keys: [...state.storage.kv.list()].length,
      alarm: await state.storage.getAlarm(),
    }));
    expect(left).toEqual({ keys: 0, alarm: null });
  });
});

describe("a 2024-11-05 request answered just before its stream closed", () => {
  it("is recorded once, by its request, with its answer: the alarm leaves an audit on its way to the queue alone", async () => {
    const sessionId = crypto.randomUUID().replaceAll("-", "").padEnd(43, "h");
    const stub = sessions().get(sessions().idFromName(sessionId)) as DurableObjectStub<McpSession>;
    const caller = { sub: "alice", groups: [], clientId: "client-1", server: "everything" };
    const sent: { id: string; method?: string; outcome?: string }[] = [];
    let letPingThrough = () => {};
    const pingHeld = new Promise<void>((resolve) => {
      letPingThrough = resolve;
    });
    const queue = {
      send: async (body: (typeof sent)[number] | typeof sent) => {
        const events = [body].flat();
        // The ping's own record waits on the queue, as a slow send would.
        if (events.some((event) => event.method === "ping" && event.outcome === "ok")) await pingHeld;
        sent.push(...(events as typeof sent));
      },
    };
    await runInDurableObject(stub, (instance) => {
      const object = instance as unknown as { env: EdgeEnv };
      const origin = `${inject("groupsOriginUrl")}/h-${crypto.randomUUID().slice(0, 8)}`;
      object.env = { ...object.env, ORIGIN_URL: origin, AUDIT_QUEUE: queue as unknown as EdgeEnv["AUDIT_QUEUE"] };
    });
    const stream = await stub.openSse(caller, sessionId, `/mcp/everything?sessionId=${sessionId}`);
    void stream.body?.pipeTo(new WritableStream()).catch(() => {});
    const initialize = { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "c", version: "1" } };
    const post = (message: Record<string, unknown>) =>
      stub.postSse({ jsonrpc: "2.0", ...message }, caller, { ...CALL, method: String(message.method), tool: undefined });
    expect((await post({ id: 0, method: "initialize", params: initialize })).status).toBe(202);
    expect((await post({ id: 1, method: "ping" })).status).toBe(202);

    await expect.poll(() => runInDurableObject(stub, (_instance, state) => new HeldAudits(state.storage).all().length)).toBe(1);
    await stub.evict(); // the stream closes
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    letPingThrough();

    await expect.poll(() => sent.filter((event) => event.method === "ping").length).toBe(1);
    expect(sent.filter((event) => event.method === "ping").map((event) => event.outcome)).toEqual(["ok"]);
    // Once queued it is released, and the next alarm ends what is left of the session.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, (_instance, state) => expect(new HeldAudits(state.storage).any).toBe(false));
  });
});
