import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type AuditStore, createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { AuditEvent } from "../../contract/audit-event.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

let clock = Date.parse("2026-03-01T12:00:00.000Z");

/** A valid event (checked against the contract), one second after the previous one. */
function event(fields: Partial<AuditEvent> = {}): AuditEvent {
  clock += 1000;
  return AuditEvent.parse({
    id: randomUUID(),
    time: new Date(clock).toISOString(),
    kind: "mcp.request",
    outcome: "ok",
    latencyMs: 12.5,
    ...fields,
  });
}

const everyField = (): AuditEvent =>
  event({
    userSub: "108234567890",
    userEmail: "ada@example.com",
    clientId: "https://claude.ai/oauth/mcp-client-metadata",
    server: "github",
    method: "tools/call",
    tool: "create_issue",
    outcome: "tool_error",
    errorCode: -32603,
    httpStatus: 200,
    latencyMs: 83.25,
    requestBytes: 512,
    responseBytes: 2048,
    protocolVersion: "2025-11-25",
    count: 3,
  });

const newestFirst = (events: AuditEvent[]) => [...events].sort((a, b) => b.time.localeCompare(a.time));

describe("audit store", () => {
  let db: TestDatabase;
  let store: AuditStore;
  const count = async () => Number((await db.pool.query("SELECT count(*) AS n FROM audit_events")).rows[0].n);

  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
    store = createAuditStore(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    await db.pool.query("TRUNCATE audit_events");
  });

  it("writes a batch and reads the same events back", async () => {
    const batch = [everyField(), event({ kind: "auth.denied", outcome: "denied", latencyMs: 0 }), everyField()];
    expect(await store.insert(batch)).toEqual({ inserted: 3 });
    expect(await count()).toBe(3);

    const back = await store.recent(10);
    expect(back).toEqual(newestFirst(batch));
    // Absent optional fields stay absent, rather than coming back as null.
    expect(Object.keys(back[1] ?? {}).sort()).toEqual(["id", "kind", "latencyMs", "outcome", "time"]);
    for (const stored of back) expect(AuditEvent.safeParse(stored).success).toBe(true);
  });

  it("stamps each row with the time it was received", async () => {
    await store.insert([event()]);
    const { rows } = await db.pool.query(
      "SELECT received_at, now() - received_at < interval '1 hour' AS recent FROM audit_events",
    );
    expect(rows).toEqual([{ received_at: expect.any(Date), recent: true }]);
  });

  it("inserts nothing for a batch delivered again, and only the new events of an overlapping one", async () => {
    const batch = [event(), event(), event()];
    expect(await store.insert(batch)).toEqual({ inserted: 3 });
    expect(await store.insert(batch)).toEqual({ inserted: 0 });
    const later = event();
    expect(await store.insert([batch[2] as AuditEvent, later, batch[0] as AuditEvent])).toEqual({ inserted: 1 });
    expect(await count()).toBe(4);
    expect(await store.recent(10)).toEqual(newestFirst([...batch, later]));
  });

  it("keeps the first of two events with one id in the same batch", async () => {
    const first = event({ tool: "first" });
    const again = { ...first, tool: "second" };
    expect(await store.insert([first, again])).toEqual({ inserted: 1 });
    expect(await store.recent(10)).toEqual([first]);
  });

  it("writes a full batch of 500 events", async () => {
    const batch = Array.from({ length: 500 }, () => everyField());
    expect(await store.insert(batch)).toEqual({ inserted: 500 });
    expect(await count()).toBe(500);
    expect(await store.recent(500)).toEqual(newestFirst(batch));
  });

  it("writes a large batch with duplicates once each: stored ones skipped, repeats within it kept once", async () => {
    const stored = Array.from({ length: 1000 }, () => event());
    expect(await store.insert(stored)).toEqual({ inserted: 1000 });
    const fresh = Array.from({ length: 4000 }, () => everyField());
    const repeats = fresh.filter((_, index) => index % 8 === 0);
    // Interleaved, as a redelivered queue batch merged with new events would arrive.
    const batch = [...fresh, ...stored, ...repeats].sort((a, b) => a.id.localeCompare(b.id));
    expect(batch).toHaveLength(5500);
    expect(await store.insert(batch)).toEqual({ inserted: 4000 });
    expect(await count()).toBe(5000);
    expect(await store.insert(batch)).toEqual({ inserted: 0 });
  });

  it("writes a batch in one statement: all of it or none of it", async () => {
    await db.pool.query(`
      CREATE FUNCTION refuse_tool() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused %', NEW.tool; END $$;
      CREATE TRIGGER refuse_tool BEFORE INSERT ON audit_events FOR EACH ROW WHEN (NEW.tool = 'refused') EXECUTE FUNCTION refuse_tool();`);
    try {
      await expect(store.insert([event(), event(), event({ tool: "refused" }), event()])).rejects.toThrow(/refused refused/);
      expect(await count()).toBe(0);
    } finally {
      await db.pool.query("DROP TRIGGER refuse_tool ON audit_events; DROP FUNCTION refuse_tool()");
    }
  });

  it("stores values its columns cannot hold as they can, instead of failing the batch", async () => {
    const odd = event({
      tool: "nul\u0000inside",
      userEmail: "quote'\"\\back{slash},",
      errorCode: 2 ** 40,
      httpStatus: -(2 ** 31),
    });
    const plain = event();
    expect(await store.insert([odd, plain])).toEqual({ inserted: 2 });
    const [back] = await store.recent(2).then((rows) => rows.filter((row) => row.id === odd.id));
    expect(back).toEqual({ ...odd, tool: "nul\uFFFDinside", errorCode: undefined });
    expect(back).not.toHaveProperty("errorCode");
  });

  it("returns the newest events first, as many as asked", async () => {
    const batch = [event(), event(), event(), event()];
    await store.insert([batch[2], batch[0], batch[3], batch[1]] as AuditEvent[]);
    expect(await store.recent(2)).toEqual([batch[3], batch[2]]);
    await expect(store.recent(0)).rejects.toThrow(RangeError);
    await expect(store.recent(1001)).rejects.toThrow(RangeError);
  });

  it("inserts nothing for an empty batch", async () => {
    expect(await store.insert([])).toEqual({ inserted: 0 });
    expect(await count()).toBe(0);
  });
});
