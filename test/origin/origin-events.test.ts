import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportLeftOut } from "../../aws/origin/aggregate/left-out.ts";
import { createOriginEvents, type EventSink } from "../../aws/origin/audit/origin-events.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { auditIngestMetrics } from "../../aws/origin/metrics/audit.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

const QUICK = { firstDelayMs: 5, maxDelayMs: 20 };

const originEvent = (server: string): AuditEvent => ({
  id: randomUUID(),
  time: new Date().toISOString(),
  kind: "mcp.upstream_left_out",
  userSub: "sub-ada",
  userEmail: "ada@example.com",
  server,
  outcome: "unavailable",
  latencyMs: 0,
});

/** A sink that refuses its first `failures` batches as a database away would, then stores. */
function flakySink(failures: number) {
  const stored: AuditEvent[] = [];
  let attempts = 0;
  const sink: EventSink = {
    async insert(events) {
      attempts++;
      if (attempts <= failures) throw Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5432"), { code: "ECONNREFUSED" });
      stored.push(...events);
    },
  };
  return { sink, stored, attempts: () => attempts };
}

const hangingSink: EventSink = { insert: () => new Promise(() => {}) };

describe("events the origin records itself", () => {
  it("are stored once the database is back, without the caller waiting", async () => {
    const { sink, stored } = flakySink(3);
    const logged: string[] = [];
    const events = createOriginEvents(sink, (line) => logged.push(line), QUICK);
    const event = originEvent("docs");
    expect(events.record(event)).toBeUndefined();
    await events.flush(5_000);
    expect(stored).toEqual([event]);
    expect(logged.join("\n")).not.toContain("lost");
    expect(logged.join("\n")).toContain("storing failed, trying again");
  });

  it("are given up after a bounded time, logged by id and kind only", async () => {
    const { sink, attempts } = flakySink(Number.POSITIVE_INFINITY);
    const logged: string[] = [];
    const events = createOriginEvents(sink, (line) => logged.push(line), { ...QUICK, retryForMs: 100 });
    const event = originEvent("docs");
    events.record(event);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const lost = logged.filter((line) => line.includes("is lost"));
    expect(lost).toEqual([expect.stringContaining(`origin audit event ${event.id} (mcp.upstream_left_out) is lost`)]);
    expect(lost[0]).toContain("ECONNREFUSED");
    expect(logged.join("\n")).not.toMatch(/ada@example\.com|sub-ada|docs/);
    const tried = attempts();
    expect(tried).toBeGreaterThan(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(attempts()).toBe(tried);
  });

  it("do not wait behind one the database refuses for good", async () => {
    const stored: AuditEvent[] = [];
    const sink: EventSink = {
      async insert(batch) {
        if (batch.some((event) => event.server === "refused")) throw new Error("index row size exceeds btree maximum");
        stored.push(...batch);
      },
    };
    const events = createOriginEvents(sink, () => {}, { ...QUICK, retryForMs: 60_000 });
    events.record(originEvent("refused"));
    const good = originEvent("docs");
    events.record(good);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stored).toEqual([good]);
    await events.flush(0);
  });

  it("wait at most the flush's bound at shutdown; what is unstored then is logged, as is what comes later", async () => {
    const logged: string[] = [];
    const events = createOriginEvents(hangingSink, (line) => logged.push(line), QUICK);
    const event = originEvent("docs");
    events.record(event);
    const started = Date.now();
    await events.flush(150);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(logged).toEqual([]); // the one in flight may yet be stored before the pool ends
    const late = originEvent("docs");
    events.record(late);
    expect(logged).toEqual([expect.stringContaining(`${late.id} (mcp.upstream_left_out) is lost, never stored: recorded after`)]);
  });

  it("keep a bounded number waiting; past it, each is logged as lost at once", async () => {
    const logged: string[] = [];
    const events = createOriginEvents(hangingSink, (line) => logged.push(line), { ...QUICK, maxWaiting: 2 });
    const recorded = ["a", "b", "c", "d"].map(originEvent);
    for (const event of recorded) events.record(event);
    // The first is in flight, two wait: the fourth is one too many.
    expect(logged).toEqual([expect.stringContaining(`${recorded[3]?.id} (mcp.upstream_left_out) is lost`)]);
  });
});

describe("events the origin gives up on", () => {
  it("are counted by kind in mcp_origin_audit_events_lost_total, however they were lost", async () => {
    const registry = new Registry();
    const metrics = auditIngestMetrics(registry);
    const lostOf = async (kind: string) =>
      (await registry.getSingleMetric("mcp_origin_audit_events_lost_total")?.get())?.values.find(
        (value) => value.labels.kind === kind,
      )?.value ?? 0;
    const { sink } = flakySink(Number.POSITIVE_INFINITY);
    const expiring = createOriginEvents(sink, () => {}, { ...QUICK, retryForMs: 100, lost: metrics.lost });
    expiring.record(originEvent("docs"));
    expiring.record({ ...originEvent("docs"), kind: "mcp.approval" });
    await new Promise((resolve) => setTimeout(resolve, 400)); // past retryForMs: both given up
    const full = createOriginEvents(hangingSink, () => {}, { ...QUICK, maxWaiting: 1, lost: metrics.lost });
    for (const server of ["a", "b", "c"]) full.record(originEvent(server)); // one in flight, one waiting, one too many
    await full.flush(50); // the waiting one, at shutdown
    expect(await lostOf("mcp.upstream_left_out")).toBe(3);
    expect(await lostOf("mcp.approval")).toBe(1);
    await expiring.flush(0);
  });
});

describe("events the origin records itself, in the database", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });

  const storedOf = async (server: string) =>
    Number((await db.pool.query("SELECT count(*) AS n FROM audit_events WHERE server = $1", [server])).rows[0].n);

  it("are stored when the origin closes its pool right after one was recorded (flushed first)", async () => {
    const pool = db.createPool();
    const events = createOriginEvents(createAuditStore(pool), () => {}, QUICK);
    events.record(originEvent("closing"));
    await events.flush(5_000);
    await pool.end();
    Object.assign(pool, { end: async () => {} }); // ended here as the origin's close() ends it, not again by the fixture
    expect(await storedOf("closing")).toBe(1);
  });

  it("are stored after a database blip, through the aggregate's left-out report", async () => {
    const store = createAuditStore(db.pool);
    let blips = 2;
    const sink: EventSink = {
      insert: (batch) => (blips-- > 0 ? Promise.reject(new Error("Connection terminated unexpectedly")) : store.insert(batch)),
    };
    const report = reportLeftOut(sink, () => {});
    report("blip", "tools/list", "it did not answer within 10 s", {
      sub: "sub-ada",
      email: "ada@example.com",
      client_id: "client-1",
    } as Parameters<typeof report>[3]);
    await expect.poll(() => storedOf("blip"), { timeout: 5_000 }).toBe(1);
  });
});
