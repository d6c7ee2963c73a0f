import type { KeyObject } from "node:crypto";
import type pg from "pg";
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

const CHAINS = "SELECT chain, seq, hash FROM audit_chains ORDER BY chain";
// A row outside every chain is legitimate only if it was stored before chaining began (migration 0007).
const OUTSIDE_CHAINS = `SELECT id::text, received_at FROM audit_events
  WHERE chain IS NULL AND received_at >= (SELECT min(started_at) FROM audit_chains) ORDER BY received_at LIMIT 1000`;

/**
 * Checks every audit chain and its checkpoints (docs/audit.md, "Verify"): each row's content against its hash, its
 * link to the row before, the seqs for gaps, the heads, and each checkpoint's signature and hash.
 */
export async function verifyAudit(pool: pg.Pool, options: VerifyOptions): Promise<VerifySummary> {
  const summary: VerifySummary = { chains: 0, rows: 0, checkpoints: 0, problems: 0 };
  const report = (problem: VerifyProblem) => {
    summary.problems += 1;
    options.report(problem);
  };
  const keys = await recordedKeys(pool);
  for (const record of (await pool.query(CHAINS)).rows.map(toChainRecord)) {
    const checkpoints = await chainCheckpoints(pool, record.chain);
    for (const checkpoint of checkpoints) checkSignature(checkpoint, keys, options.trustedKeys).forEach(report);
    const done = summary.rows;
    const purged = await purgedRuns(pool, record.chain);
    summary.rows += await walkChain(
      pool,
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
  for (const row of (await pool.query(OUTSIDE_CHAINS)).rows) {
    report({
      kind: "outside_chain",
      eventId: row.id,
      message: `in no chain, yet stored at ${(row.received_at as Date).toISOString()}, after chaining began`,
    });
  }
  return summary;
}

function toChainRecord(row: Record<string, unknown>): ChainRecord {
  return {
    chain: Number(row.chain),
    seq: Number(row.seq),
    hash: row.hash as Buffer,
  };
}
