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

// Chained rows go as a prefix of their chain (docs/audit.md): the cut is the last seq before the first row that is
// not yet old enough, so the chain stays whole from its floor on. An event that arrived late can so be kept a little
// longer, never deleted earlier.
const CUTS = `SELECT c.chain, c.floor_seq, coalesce(
    (SELECT min(e.seq) - 1 FROM audit_events e WHERE e.chain = c.chain AND e.seq > c.floor_seq AND e.time >= $1),
    c.seq) AS cut
  FROM audit_chains c`;

// The floors move first, each to a row that exists, and take its hash: verify then starts each chain there, and a
// purge cut short is finished by the next one.
const MOVE_FLOORS = `WITH cuts AS (${CUTS})
  UPDATE audit_chains c SET floor_seq = cuts.cut, floor_hash = e.hash
  FROM cuts JOIN audit_events e ON e.chain = cuts.chain AND e.seq = cuts.cut
  WHERE c.chain = cuts.chain AND cuts.cut > c.floor_seq`;

// SKIP LOCKED: when several origin tasks purge at once, each takes other rows instead of waiting for its neighbour.
const DELETE_BATCH = `DELETE FROM audit_events WHERE id IN (
  SELECT e.id FROM audit_events e LEFT JOIN audit_chains c ON c.chain = e.chain
  WHERE e.time < $1 AND (e.chain IS NULL OR e.seq <= c.floor_seq) LIMIT $2 FOR UPDATE OF e SKIP LOCKED)`;
const COUNT_OLDER = `WITH cuts AS (${CUTS})
  SELECT count(*)::bigint AS n FROM audit_events e LEFT JOIN cuts ON cuts.chain = e.chain
  WHERE e.time < $1 AND (e.chain IS NULL OR e.seq <= cuts.cut)`;

export interface PurgeResult {
  /** Rows deleted (or, on a dry run, that would be). */
  deleted: number;
  /** DELETE statements run (0 on a dry run). */
  batches: number;
}

/**
 * Deletes the audit events older than `olderThan` (strictly), in batches, each in its own short transaction: every
 * such event outside the chains, and of each chain the longest run from its floor that is all older.
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
  await pool.query(MOVE_FLOORS, [olderThan]);
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
