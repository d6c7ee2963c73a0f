import type pg from "pg";
import { longStatement } from "../db/long-statement.ts";

/** Rows one DELETE removes: each statement stays short, so it never holds its locks long or bloats one transaction. */
export const RETENTION_BATCH_SIZE = 10_000;

/** How often the origin's retention job runs (and once at start). */
export const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** The instant before which events are older than `days` days. */
export function retentionCutoff(days: number, now: Date = new Date()): Date {
  return new Date(now.getTime() - days * DAY_MS);
}

// Before chained rows go, the runs of seqs about to be deleted are recorded per chain, so that verify tells these holes
// from tampering (docs/audit.md). Both steps are functions owned by the schema's owner (migration 0011): the origin's
// role holds no DELETE on audit events, and the functions refuse a cut-off younger than the owner's minimum age
// (audit_purge_policy), by the database's clock.
const RECORD_PURGES = "SELECT audit_purge_record($1) AS runs";
// Only chained rows a record covers: one that arrived since the records were written waits for the next purge.
const DELETE_BATCH = "SELECT audit_purge_delete($1, $2) AS deleted";
/** How long recording a purge may take (one statement over every chained row older than the cut-off). */
const RECORD_PURGES_TIMEOUT_MS = 10 * 60_000;
const COUNT_OLDER = "SELECT count(*)::bigint AS n FROM audit_events WHERE time < $1";
// The minimum age the owner set (audit_purge_policy), whether a cut-off is younger than it by the database's clock,
// and the cut-off's age in whole days (the largest minimum age that would let it through).
const PURGE_FLOOR = `SELECT min_age_days AS days, $1::timestamptz > now() - make_interval(hours => min_age_days * 24) AS too_young,
  floor(extract(epoch FROM now() - $1::timestamptz) / 86400)::int AS age_days
  FROM audit_purge_policy`;
// The cut-off `days` whole days before now by the database's clock, the one the purge functions judge it by.
const CUTOFF = "SELECT now() - make_interval(hours => $1::int * 24) AS cutoff";

export interface PurgeOptions {
  batchSize?: number;
  dryRun?: boolean;
  /** Told the rows deleted so far after each batch (a long purge runs for minutes: the CLI shows it works). */
  onBatch?: (deletedSoFar: number) => void;
}

export interface PurgeResult {
  /** Rows deleted (or, on a dry run, that would be). */
  deleted: number;
  /** DELETE statements run (0 on a dry run). */
  batches: number;
  /** On a dry run, why the purge itself would be refused (the minimum age), with the fix; absent when it would run. */
  refused?: string;
}

/**
 * Why the purge functions would refuse `olderThan`, in their words (a real purge's first call fails with the same),
 * followed by the two ways to allow it; undefined when they would not. Operators meet this mostly on a deployment
 * without retention, where the minimum age is 36500 days and nothing can be purged.
 */
async function purgeRefusal(pool: pg.Pool, olderThan: Date): Promise<string | undefined> {
  const { rows } = await pool.query<{ days: number; too_young: boolean; age_days: number }>(PURGE_FLOOR, [olderThan]);
  const floor = rows[0];
  if (!floor?.too_young) return undefined;
  const refused = `audit purge refused: cut-off ${olderThan.toISOString()} is less than ${floor.days} days ago (the minimum age of a purged audit event, in audit_purge_policy)`;
  // The policy's CHECK allows 1 day at least: a cut-off younger than that cannot be allowed at all.
  if (floor.age_days < 1) return `${refused}: no event younger than 1 day can be purged`;
  const days = floor.age_days;
  return (
    `${refused}: to allow it, either set the retention to ${days} day${days === 1 ? "" : "s"} or less (on AWS ` +
    "origin.auditRetentionDays, then deploy; elsewhere AUDIT_RETENTION_DAYS, for the origin and for " +
    "`node aws/origin/db/migrate-cli.ts`, then run it), which also makes the origin purge older events every hour, " +
    `or, as the schema's owner (on AWS the master user), run \`UPDATE audit_purge_policy SET min_age_days = ${days}\` ` +
    "and purge right after: the migrate command (on AWS, every task start) sets it back to the retention " +
    '(docs/audit.md, "Retention")'
  );
}

/**
 * Deletes every audit event older than `olderThan` (strictly), in batches, each in its own short transaction, after
 * recording which seqs of each hash chain go. Refused (by PostgreSQL) when `olderThan` is younger than the minimum
 * age the schema's owner set (`node aws/origin/db/migrate-cli.ts` sets it from AUDIT_RETENTION_DAYS): a real purge
 * throws, saying how to allow it; a dry run counts anyway and returns the refusal in `refused`.
 */
export async function purgeAuditEvents(pool: pg.Pool, olderThan: Date, options: PurgeOptions = {}): Promise<PurgeResult> {
  // Checked before the functions are called so that the refusal names its fix; the functions still enforce it.
  const refused = await purgeRefusal(pool, olderThan);
  if (options.dryRun) {
    // A dry run still counts what would go (what the operator asks it), and says the purge itself would be refused.
    const { rows } = await pool.query<{ n: string }>(COUNT_OLDER, [olderThan]);
    return { deleted: Number(rows[0]?.n ?? 0), batches: 0, ...(refused === undefined ? {} : { refused }) };
  }
  if (refused !== undefined) throw new Error(refused);
  const batchSize = options.batchSize ?? RETENTION_BATCH_SIZE;
  // Its work grows with the backlog (a first purge after enabling retention): more than a request's bound.
  await longStatement(pool, RECORD_PURGES, [olderThan], RECORD_PURGES_TIMEOUT_MS);
  let deleted = 0;
  let batches = 0;
  for (;;) {
    const { rows } = await pool.query<{ deleted: number }>(DELETE_BATCH, [olderThan, batchSize]);
    const count = Number(rows[0]?.deleted ?? 0);
    batches += 1;
    deleted += count;
    options.onBatch?.(deleted);
    if (count < batchSize) return { deleted, batches };
  }
}

/**
 * Deletes every audit event older than `days` whole days, by the database's clock (an origin whose clock runs ahead
 * is not refused for asking a cut-off the database finds too young). Returns the cut-off with the counts.
 */
export async function purgeOlderThanDays(
  pool: pg.Pool,
  days: number,
  options: PurgeOptions = {},
): Promise<PurgeResult & { cutoff: Date }> {
  const { rows } = await pool.query<{ cutoff: Date }>(CUTOFF, [days]);
  const cutoff = rows[0]?.cutoff as Date;
  return { ...(await purgeAuditEvents(pool, cutoff, options)), cutoff };
}

export interface RetentionOptions {
  pool: pg.Pool;
  /** Keep events this many days; undefined keeps them forever (the job then does nothing). */
  retentionDays: number | undefined;
  log: (line: string) => void;
  intervalMs?: number;
  batchSize?: number;
}

export interface RetentionJob {
  /** Runs a purge now and then every interval. */
  start(): void;
  /** Stops the timer and waits for a purge in progress, so the pool can be ended after it. */
  stop(): Promise<void>;
}

/** The origin's retention job. A failed run (the database away) is logged and retried at the next interval. */
export function auditRetention(options: RetentionOptions): RetentionJob {
  const { pool, retentionDays, log } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const run = async () => {
    if (retentionDays === undefined) return;
    try {
      const { deleted, cutoff } = await purgeOlderThanDays(pool, retentionDays, { batchSize: options.batchSize });
      log(`audit retention: deleted ${deleted} events older than ${cutoff.toISOString()} (${retentionDays} days)`);
    } catch (error) {
      log(`audit retention failed (tried again at the next run): ${(error as Error).message}`);
    }
  };
  const schedule = () => {
    if (stopped) return;
    running = run().then(() => {
      if (stopped) return;
      // A timeout after each run rather than an interval: a slow purge never overlaps the next.
      timer = setTimeout(schedule, options.intervalMs ?? RETENTION_INTERVAL_MS);
      timer.unref();
    });
  };

  return {
    start() {
      if (retentionDays !== undefined) schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
