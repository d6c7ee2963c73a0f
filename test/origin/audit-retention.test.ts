import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { auditRetention, purgeAuditEvents, retentionCutoff } from "../../aws/origin/audit/retention.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

const DAY = 86_400_000;

const at = (time: number): AuditEvent => ({
  id: randomUUID(),
  time: new Date(time).toISOString(),
  kind: "mcp.request",
  outcome: "ok",
  latencyMs: 1,
});

describe("audit retention", () => {
  let db: TestDatabase;
  const remaining = async () =>
    (await db.pool.query<{ id: string }>("SELECT id FROM audit_events ORDER BY time")).rows.map((row) => row.id);

  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    await db.pool.query("TRUNCATE audit_events");
  });

  it("deletes exactly the events older than the cut-off, in batches", async () => {
    const cutoff = Date.parse("2026-03-01T00:00:00.000Z");
    const old = Array.from({ length: 10 }, (_, i) => at(cutoff - (i + 1) * 1000));
    old.push(at(cutoff - 1));
    const kept = [at(cutoff), at(cutoff + 1), at(cutoff + DAY)];
    await createAuditStore(db.pool).insert([...old, ...kept]);

    expect(await purgeAuditEvents(db.pool, new Date(cutoff), { batchSize: 3, dryRun: true })).toEqual({
      deleted: 11,
      batches: 0,
    });
    expect((await remaining()).length).toBe(14);
    // 11 rows by 3: 3 + 3 + 3 + 2, the last short batch says nothing is left. Each batch tells the total so far.
    const progress: number[] = [];
    expect(await purgeAuditEvents(db.pool, new Date(cutoff), { batchSize: 3, onBatch: (rows) => progress.push(rows) })).toEqual({
      deleted: 11,
      batches: 4,
    });
    expect(progress).toEqual([3, 6, 9, 11]);
    expect(await remaining()).toEqual(kept.map((event) => event.id));
    expect(await purgeAuditEvents(db.pool, new Date(cutoff), { batchSize: 3 })).toEqual({ deleted: 0, batches: 1 });
  });

  it("refuses a cut-off younger than the owner's minimum age, naming the fix; a dry run counts and says so", async () => {
    await createAuditStore(db.pool).insert([at(Date.now() - 3 * DAY), at(Date.now() - 1.5 * DAY)]);
    await db.pool.query("UPDATE audit_purge_policy SET min_age_days = 2");
    try {
      const tooYoung = new Date(Date.now() - DAY - 60_000);
      const refusal =
        /^audit purge refused: cut-off \S+Z is less than 2 days ago \(the minimum age of a purged audit event, in audit_purge_policy\): to allow it, either set the retention to 1 day or less \(on AWS origin\.auditRetentionDays, then deploy; .*\), .* or, as the schema's owner .*`UPDATE audit_purge_policy SET min_age_days = 1`/;
      await expect(purgeAuditEvents(db.pool, tooYoung)).rejects.toThrow(refusal);
      const dry = await purgeAuditEvents(db.pool, tooYoung, { dryRun: true });
      expect(dry).toEqual({ deleted: 2, batches: 0, refused: expect.stringMatching(refusal) });
      // Younger than the 1 day the policy allows at least: nothing to set.
      expect((await purgeAuditEvents(db.pool, new Date(Date.now() - 60_000), { dryRun: true })).refused).toMatch(
        /is less than 2 days ago .*: no event younger than 1 day can be purged$/,
      );
      expect((await remaining()).length).toBe(2);
      expect(await purgeAuditEvents(db.pool, new Date(Date.now() - 2 * DAY - 60_000), { dryRun: true })).toEqual({
        deleted: 1,
        batches: 0,
      });
    } finally {
      await db.pool.query("UPDATE audit_purge_policy SET min_age_days = 1");
    }
  });

  it("computes the cut-off in whole days before now", () => {
    expect(retentionCutoff(400, new Date("2026-03-01T00:00:00Z")).toISOString()).toBe("2025-01-25T00:00:00.000Z");
  });

  it("runs at start and then on its interval, logging what it deleted, until stopped", async () => {
    const now = Date.now();
    await createAuditStore(db.pool).insert([at(now - 40 * DAY), at(now - 31 * DAY), at(now - 29 * DAY)]);
    const lines: string[] = [];
    const job = auditRetention({ pool: db.pool, retentionDays: 30, log: (line) => lines.push(line), intervalMs: 50 });
    job.start();
    await expect.poll(() => lines.length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    await job.stop();
    const after = lines.length;
    expect(lines[0]).toMatch(/^audit retention: deleted 2 events older than \S+Z \(30 days\)$/);
    expect(lines[1]).toMatch(/^audit retention: deleted 0 events/);
    expect((await remaining()).length).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(lines.length).toBe(after);
  });

  it("does nothing without a retention period", async () => {
    await createAuditStore(db.pool).insert([at(Date.parse("2000-01-01T00:00:00Z"))]);
    const lines: string[] = [];
    const job = auditRetention({ pool: db.pool, retentionDays: undefined, log: (line) => lines.push(line), intervalMs: 10 });
    job.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await job.stop();
    expect(lines).toEqual([]);
    expect((await remaining()).length).toBe(1);
  });
});
