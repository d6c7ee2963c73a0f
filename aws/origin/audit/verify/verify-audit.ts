import type { KeyObject } from "node:crypto";
import type pg from "pg";
import { withConnection } from "../../db/with-connection.ts";
import { chainCheckpoints, checkSignature, recordedKeys } from "./checkpoints.ts";
import type { VerifyProblem } from "./problems.ts";
import { purgedRuns } from "./purged-runs.ts";
import { type ChainRecord, walkChain } from "./walk-chain.ts";

export interface VerifyOptions {
  /** Rows read per query (default 5000). */
  pageSize?: number;
  /** Public keys the checkpoints must be signed with; unset, any key the database records is accepted. */
  trustedKeys?: readonly KeyObject[];
  /** Each problem, as soon as it is found. */
  report: (problem: VerifyProblem) => void;
  /** Rows checked so far, after each page. */
  progress?: (rows: number) => void;
}

export interface VerifySummary {
  chains: number;
  rows: number;
  checkpoints: number;
  problems: number;
}

// Every chain anything names, not only those with a head: deleting a head must not hide its chain's rows from verify.
const CHAINS = `SELECT named.chain, heads.seq, heads.hash FROM (
    SELECT DISTINCT chain FROM audit_events WHERE chain IS NOT NULL
    UNION SELECT chain FROM audit_checkpoints
    UNION SELECT chain FROM audit_chains
  ) named LEFT JOIN audit_chains heads ON heads.chain = named.chain ORDER BY named.chain`;
// The walk reads seqs from 1 up: a row below that would never be read.
const INVALID_SEQS = `SELECT id::text, chain, seq FROM audit_events WHERE chain IS NOT NULL AND seq < 1 ORDER BY chain, seq LIMIT 1000`;
// A row outside every chain is legitimate only if it was stored before chaining began (migration 0007).
const OUTSIDE_CHAINS = `SELECT id::text, received_at FROM audit_events
  WHERE chain IS NULL AND received_at >= (SELECT min(started_at) FROM audit_chains) ORDER BY received_at LIMIT 1000`;

/**
 * Checks every audit chain and its checkpoints (docs/audit.md, "Verify"): each row's content against its hash, its
 * link to the row before, the seqs for gaps, the heads, and each checkpoint's signature and hash. It reads one
 * snapshot of the database (a read-only repeatable-read transaction), so events ingested or purged while it runs are
 * not taken for tampering.
 */
export function verifyAudit(pool: pg.Pool, options: VerifyOptions): Promise<VerifySummary> {
  return withConnection(pool, async (db, broken) => {
    try {
      await db.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      return await verifySnapshot(db, options);
    } finally {
      await db.query("ROLLBACK").catch(broken);
    }
  });
}

async function verifySnapshot(db: pg.ClientBase, options: VerifyOptions): Promise<VerifySummary> {
  const summary: VerifySummary = { chains: 0, rows: 0, checkpoints: 0, problems: 0 };
  const report = (problem: VerifyProblem) => {
    summary.problems += 1;
    options.report(problem);
  };
  const keys = await recordedKeys(db);
  for (const record of (await db.query(CHAINS)).rows.map(toChainRecord)) {
    if (record.headless) {
      const message = "rows or checkpoints of this chain exist, but its head is gone: it was deleted, or rows were added";
      report({ kind: "no_head", chain: record.chain, message });
    }
    const checkpoints = await chainCheckpoints(db, record.chain);
    for (const checkpoint of checkpoints) checkSignature(checkpoint, keys, options.trustedKeys).forEach(report);
    const done = summary.rows;
    const purged = await purgedRuns(db, record.chain);
    summary.rows += await walkChain(
      db,
      record,
      { checkpoints, purged },
      {
        pageSize: options.pageSize ?? 5000,
        report,
        progress: (rows) => options.progress?.(done + rows),
      },
    );
    summary.chains += 1;
    summary.checkpoints += checkpoints.length;
  }
  for (const row of (await db.query(INVALID_SEQS)).rows) {
    const where = { chain: Number(row.chain), seq: Number(row.seq), eventId: row.id as string };
    report({ kind: "invalid_seq", ...where, message: "no chain writes a seq below 1: the row was added by hand" });
  }
  for (const row of (await db.query(OUTSIDE_CHAINS)).rows) {
    report({
      kind: "outside_chain",
      eventId: row.id,
      message: `in no chain, yet stored at ${(row.received_at as Date).toISOString()}, after chaining began`,
    });
  }
  return summary;
}

function toChainRecord(row: Record<string, unknown>): ChainRecord {
  const chain = Number(row.chain);
  if (row.seq === null) return { chain, seq: 0, hash: Buffer.alloc(0), headless: true };
  return { chain, seq: Number(row.seq), hash: row.hash as Buffer };
}
