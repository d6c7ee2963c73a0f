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

describe("a burst of events the origin records itself (s22 hunt G4)", () => {
  const sighting = (server: string): AuditEvent => ({ ...originEvent(server), kind: "definition.first_seen", outcome: "ok" });
  const approval = (server: string): AuditEvent => ({ ...originEvent(server), kind: "mcp.approval", outcome: "ok" });

  it("is stored in batches, so a listing of thousands of new names loses nothing while the database is up", async () => {
    const stored: AuditEvent[] = [];
    const batches: number[] = [];
    // Each round trip ends when the test says: 400 events are recorded during each (900 during the first), as pins
    // record a large listing; one at a time, the line of 1,000 would be full by the third.
    let answer = () => {};
    const sink: EventSink = {
      insert: (events) =>
        new Promise<void>((resolve) => {
          answer = () => {
            answer = () => {};
            batches.push(events.length);
            stored.push(...events);
            resolve();
          };
        }),
    };
    const logged: string[] = [];
    const events = createOriginEvents(sink, (line) => logged.push(line), { ...QUICK, maxWaiting: 1_000 });
    const roundTrip = async () => {
      answer();
      await new Promise((resolve) => setImmediate(resolve));
    };
    for (let round = 0; round < 25; round++) {
      for (let one = 0; one < (round === 0 ? 900 : 400); one++) events.record(sighting("notes"));
      events.record(approval("notes"));
      await roundTrip();
    }
    const all = 500 + 25 * 401;
    for (let turn = 0; stored.length < all && turn < 2_000; turn++) await roundTrip();
    await events.flush(1_000);
    expect(logged.filter((line) => line.includes("is lost"))).toEqual([]);
    expect(stored).toHaveLength(all);
    expect(Math.max(...batches)).toBe(500);
  });

  it("gives up the oldest waiting sighting, not an approval, when the line is full", async () => {
    let release = () => {};
    const stored: AuditEvent[] = [];
    const sink: EventSink = {
      insert: (events) =>
        new Promise<void>((resolve) => {
          release = () => {
            stored.push(...events);
            resolve();
          };
        }),
    };
    const logged: string[] = [];
    const events = createOriginEvents(sink, (line) => logged.push(line), { ...QUICK, maxWaiting: 3 });
    const inFlight = sighting("a");
    events.record(inFlight); // in flight: the line is empty again
    const waiting = ["b", "c", "d"].map(sighting);
    for (const event of waiting) events.record(event);
    const decision = approval("e");
    events.record(decision); // full: the oldest waiting sighting makes room
    const another = sighting("f");
    events.record(another); // full of what ranks as high or higher: the new sighting is given up
    const lostIds = logged.filter((line) => line.includes("is lost")).map((line) => line.split(" ")[3]);
    expect(lostIds).toEqual([waiting[0]?.id, another.id]);
    expect(logged[0]).toContain("(definition.first_seen) is lost, never stored: 3 events already waiting for the database");
    for (let turn = 0; turn < 3 && stored.length < 4; turn++) {
      release();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(stored.map((event) => event.id)).toEqual([inFlight.id, waiting[1]?.id, waiting[2]?.id, decision.id]);
    await events.flush(0);
  });

  it("gives up a new approval only when the line is full of what is not a sighting", async () => {
    const logged: string[] = [];
    const events = createOriginEvents(hangingSink, (line) => logged.push(line), { ...QUICK, maxWaiting: 2 });
    const recorded = ["a", "b", "c", "d"].map(approval);
    for (const event of recorded) events.record(event);
    expect(logged).toEqual([expect.stringContaining(`${recorded[3]?.id} (mcp.approval) is lost`)]);
  });

  it("tries a refused batch one at a time: one bad event neither loses the others nor stops batching", async () => {
    const stored: AuditEvent[] = [];
    const batches: number[] = [];
    const sink: EventSink = {
      async insert(batch) {
        batches.push(batch.length);
        if (batch.some((event) => event.server === "refused")) throw new Error("index row size exceeds btree maximum");
        stored.push(...batch);
      },
    };
    const events = createOriginEvents(sink, () => {}, { ...QUICK, retryForMs: 60_000 });
    events.record(originEvent("docs")); // in flight while the next ten are recorded: they go together
    const first = [originEvent("refused"), ...Array.from({ length: 9 }, () => originEvent("docs"))];
    for (const event of first) events.record(event);
    await expect.poll(() => stored.length).toBe(10);
    const later = Array.from({ length: 10 }, () => originEvent("docs"));
    for (const event of later) events.record(event);
    await expect.poll(() => stored.length).toBe(20);
    // The ten together, refused; then each alone (the bad one first); the ten later ones together again.
    expect(batches.slice(0, 12)).toEqual([1, 10, ...Array.from({ length: 10 }, () => 1)]);
    expect(batches.filter((size) => size === 10)).toHaveLength(2);
    await events.flush(0);
  });

  it("tries a batch whole again after a database blip, not one event per round trip (s22 review R3)", async () => {
    const sizes: number[] = [];
    const { sink, stored } = flakySink(2);
    const counting: EventSink = {
      async insert(batch) {
        sizes.push(batch.length);
        return sink.insert(batch);
      },
    };
    const events = createOriginEvents(counting, () => {}, { firstDelayMs: 1, maxDelayMs: 1 });
    for (let one = 0; one < 2_000; one++) events.record(sighting("notes"));
    await events.flush(20_000);
    expect(stored).toHaveLength(2_000);
    // Two refused attempts (the first event, in flight alone, then 500), then the 2,000 in four batches, none split
    // by the blip; before the fix the 500 went one INSERT each (503 inserts).
    expect(sizes.slice(2)).toEqual([500, 500, 500, 500]);
  }, 30_000);
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
