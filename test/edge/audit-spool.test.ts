import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { type AuditSpool, MAX_SPOOLED_BYTES } from "../../durable-objects/audit-spool.ts";
import { recordAudit } from "../../worker/audit/record.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { testEnv } from "./edge-env.ts";

// The real AuditSpool objects of wrangler.toml, in workerd; the queue is the test's, refusing as told.
const spools = () => (env as unknown as EdgeEnv).AUDIT_SPOOL;
const spoolAt = (index: number) => spools().get(spools().idFromName(`audit-spool-${index}`)) as DurableObjectStub<AuditSpool>;

function queue({ refuse }: { refuse: () => boolean }) {
  const sent: AuditEvent[][] = [];
  return {
    sent,
    AUDIT_QUEUE: {
      send: async (events: AuditEvent[]) => {
        if (refuse()) throw new Error("queue unavailable");
        sent.push(events);
      },
    },
  };
}

/** Gives the object the test's queue in place of its binding. */
const useQueue = (stub: DurableObjectStub<AuditSpool>, AUDIT_QUEUE: unknown) =>
  runInDurableObject(stub, (instance) => {
    const object = instance as unknown as { env: Record<string, unknown> };
    object.env = { ...object.env, AUDIT_QUEUE };
  });

const event = (n: number): AuditEvent =>
  ({
    id: crypto.randomUUID(),
    time: new Date().toISOString(),
    kind: "mcp.request",
    outcome: "ok",
    method: `m${n}`,
  }) as AuditEvent;

describe("the audit spool", () => {
  it("keeps what the queue refused on every attempt of a request's send, and the alarm queues it once it takes it", async () => {
    let down = true;
    const test = queue({ refuse: () => down });
    const waits: Promise<unknown>[] = [];
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      recordAudit(
        testEnv({ AUDIT_QUEUE: test.AUDIT_QUEUE }),
        { waitUntil: (wait) => waits.push(wait) },
        {
          kind: "mcp.request",
          outcome: "ok",
          method: "tools/call",
          tool: "echo",
          latencyMs: 1,
        },
      );
      await Promise.all(waits);
      expect(String(logged.mock.calls[0]?.[0])).toContain("the audit spool keeps them");
    } finally {
      logged.mockRestore();
    }
    expect(test.sent).toEqual([]);
    const holding = [];
    for (let index = 0; index < 8; index++) {
      const kept = await spoolAt(index).kept();
      if (kept.events > 0) holding.push(index);
    }
    expect(holding).toHaveLength(1);
    const stub = spoolAt(holding[0] as number);
    await useQueue(stub, test.AUDIT_QUEUE);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now());

    expect(await runDurableObjectAlarm(stub)).toBe(true); // still down: kept, a later alarm
    const kept = await stub.kept();
    expect({ ...kept, bytes: kept.bytes > 0, recent: Date.now() - (kept.oldestAt ?? 0) < 60_000 }).toEqual({
      batches: 1,
      events: 1,
      bytes: true,
      oldestAt: kept.oldestAt,
      recent: true,
    });
    down = false;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(test.sent.flat().map(({ tool, method }) => ({ tool, method }))).toEqual([{ tool: "echo", method: "tools/call" }]);
    expect(await stub.kept()).toEqual({ batches: 0, events: 0, bytes: 0 });
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
  });

  it("waits twice as long after each refusal, at most ten minutes", async () => {
    const stub = spoolAt(100);
    const test = queue({ refuse: () => true });
    await useQueue(stub, test.AUDIT_QUEUE);
    expect(await stub.keep([event(1)])).toBe(true);
    const waits: number[] = [];
    for (let round = 0; round < 7; round++) {
      const before = Date.now();
      await runDurableObjectAlarm(stub);
      const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
      waits.push(Math.round(((alarm as number) - before) / 1000));
    }
    expect(waits).toEqual([30, 60, 120, 240, 480, 600, 600]);
  });

  it("sends the oldest first, fifty a round, and the rest at the next alarm a second later", async () => {
    const stub = spoolAt(101);
    const test = queue({ refuse: () => false });
    await useQueue(stub, test.AUDIT_QUEUE);
    for (let n = 0; n < 60; n++) {
      expect(await stub.keep([event(n)])).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 2)); // a batch's key sorts by the millisecond it came
    }
    await runDurableObjectAlarm(stub);
    expect(test.sent).toHaveLength(50);
    expect((await stub.kept()).events).toBe(10);
    const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
    expect((alarm as number) - Date.now()).toBeLessThanOrEqual(1000);
    await runDurableObjectAlarm(stub);
    expect(test.sent.flat().map(({ method }) => method)).toEqual(Array.from({ length: 60 }, (_, n) => `m${n}`));
    expect(await stub.kept()).toEqual({ batches: 0, events: 0, bytes: 0 });
  });

  it("keeps a batch that came while a round was sending, for the next round", async () => {
    const stub = spoolAt(103);
    let release!: () => void;
    const sending = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sent: AuditEvent[][] = [];
    await useQueue(stub, {
      send: async (events: AuditEvent[]) => {
        await sending;
        sent.push(events);
      },
    });
    expect(await stub.keep([event(1)])).toBe(true);
    const round = runDurableObjectAlarm(stub);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await stub.keep([event(2)])).toBe(true);
    release();
    await round;
    expect(sent.flat().map(({ method }) => method)).toEqual(["m1"]);
    expect((await stub.kept()).events).toBe(1);
    await runDurableObjectAlarm(stub);
    expect(sent.flat().map(({ method }) => method)).toEqual(["m1", "m2"]);
  });

  it("refuses a batch past its bound, keeping what it has", async () => {
    const stub = spoolAt(102);
    await runInDurableObject(stub, (_instance, state) => state.storage.kv.put("bytes", MAX_SPOOLED_BYTES - 100));
    expect(await stub.keep([event(1)])).toBe(false);
    expect((await stub.kept()).batches).toBe(0);
    await runInDurableObject(stub, (_instance, state) => state.storage.kv.put("bytes", 0));
    expect(await stub.keep([event(1)])).toBe(true);
    expect((await stub.kept()).events).toBe(1);
  });

  it("counts batches kept before it counted them (a release before the counters), once (s23 review S1)", async () => {
    const stub = spoolAt(104);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.kv.put(`batch:${Date.now().toString().padStart(15, "0")}:old`, [event(1), event(2)]);
      state.storage.kv.put("bytes", 100);
    });
    expect(await stub.kept()).toMatchObject({ batches: 1, events: 2 });
    expect(await stub.keep([event(3)])).toBe(true);
    expect(await stub.kept()).toMatchObject({ batches: 2, events: 3 });
  });
});
