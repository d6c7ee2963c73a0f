import type pg from "pg";

/** Rows one DELETE removes: each statement stays short, so it never holds its locks long or bloats one transaction. */
export const RETENTION_BATCH_SIZE = 10_000;

/** How often the origin's retention job runs (and once at start). */
export const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** The instant before which events are older than `days` days. */
export function retentionCutoff(days: number, now: Date = new Date()): Date {
  return new Date(now.getTime() - days * DAY_MS);
}

// Before chained rows go, the runs of seqs about to be deleted are recorded per chain (gaps and islands: within a
// run, seq minus its rank is constant), so that verify tells these holes from tampering (docs/audit.md).
const RECORD_PURGES = `INSERT INTO audit_chain_purges (chain, from_seq, to_seq, cutoff)
  SELECT chain, min(seq), max(seq), $1 FROM (
    SELECT chain, seq, seq - row_number() OVER (PARTITION BY chain ORDER BY seq) AS run
    FROM audit_events WHERE time < $1 AND chain IS NOT NULL) doomed
  GROUP BY chain, run`;

// Only chained rows a record covers: one that arrived since the records were written waits for the next purge.
// SKIP LOCKED: when several origin tasks purge at once, each takes other rows instead of waiting for its neighbour.
const DELETE_BATCH = `DELETE FROM audit_events WHERE id IN (
  SELECT e.id FROM audit_events e WHERE e.time < $1 AND (e.chain IS NULL OR EXISTS (
    SELECT 1 FROM audit_chain_purges p WHERE p.chain = e.chain AND e.seq BETWEEN p.from_seq AND p.to_seq))
  LIMIT $2 FOR UPDATE OF e SKIP LOCKED)`;
const COUNT_OLDER = "SELECT count(*)::bigint AS n FROM audit_events WHERE time < $1";

export interface PurgeResult {
  /** Rows deleted (or, on a dry run, that would be). */
  deleted: number;
  /** DELETE statements run (0 on a dry run). */
  batches: number;
}

/**
 * Deletes every audit event older than `olderThan` (strictly), in batches, each in its own short transaction, after
 * recording which seqs of each hash chain go.
 */
export async function purgeAuditEvents(
  pool: pg.Pool,
  olderThan: Date,
  options: { batchSize?: number; dryRun?: boolean } = {},
): Promise<PurgeResult> {
  if (options.dryRun) {
    const { rows } = await pool.query<{ n: string }>(COUNT_OLDER, [olderThan]);
    return { deleted: Number(rows[0]?.n ?? 0), batches: 0 };
  }
  const batchSize = options.batchSize ?? RETENTION_BATCH_SIZE;
  await pool.query(RECORD_PURGES, [olderThan]);
  let deleted = 0;
  let batches = 0;
  for (;;) {
    const { rowCount } = await pool.query(DELETE_BATCH, [olderThan, batchSize]);
    batches += 1;
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) return { deleted, batches };
  }
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
    const cutoff = retentionCutoff(retentionDays);
    try {
      const { deleted } = await purgeAuditEvents(pool, cutoff, { batchSize: options.batchSize });
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
