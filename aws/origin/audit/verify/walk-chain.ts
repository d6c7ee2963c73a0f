import type pg from "pg";
import { canonicalContent, linkHash } from "../chain/link.ts";
import { COLUMN_LIST, rowValues } from "../columns.ts";
import type { StoredCheckpoint } from "./checkpoints.ts";
import type { VerifyProblem } from "./problems.ts";

/** A chain's row in audit_chains: its head and its floor (what retention deleted). */
export interface ChainRecord {
  chain: number;
  seq: number;
  hash: Buffer;
  floorSeq: number;
  floorHash: Buffer;
}

export interface WalkOptions {
  pageSize: number;
  report: (problem: VerifyProblem) => void;
  /** Called after each page with the rows checked so far in this chain. */
  progress: (rows: number) => void;
}

const PAGE = `SELECT ${COLUMN_LIST}, seq, prev_hash, hash FROM audit_events
  WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3`;

/**
 * Reads a chain in seq order from its floor, a page at a time (keyset on the (chain, seq) index, so memory stays
 * flat), and reports each row whose content, link or place is wrong, and each checkpoint its rows contradict.
 * Returns the number of rows read.
 */
export async function walkChain(
  pool: pg.Pool,
  record: ChainRecord,
  checkpoints: readonly StoredCheckpoint[],
  options: WalkOptions,
): Promise<number> {
  const { chain } = record;
  const signedAt = new Map(checkpoints.filter((checkpoint) => checkpoint.seq > record.floorSeq).map((c) => [c.seq, c]));
  let previous = record.floorHash;
  let expected = record.floorSeq + 1;
  let rows = 0;
  for (;;) {
    const page = (await pool.query(PAGE, [chain, expected - 1, options.pageSize])).rows;
    for (const row of page) {
      const seq = Number(row.seq);
      const where = { chain, seq, eventId: row.id as string };
      if (seq > record.seq)
        options.report({ kind: "beyond_head", ...where, message: `after the chain's head (seq ${record.seq})` });
      if (seq > expected) {
        const missing = seq - 1 === expected ? `seq ${expected} is` : `seqs ${expected}–${seq - 1} are`;
        options.report({ kind: "gap", ...where, message: `${missing} missing before this row: rows were deleted` });
      } else if (!previous.equals(row.prev_hash)) {
        options.report({ kind: "link", ...where, message: "its previous hash is not the hash of the row before it" });
      }
      const recomputed = linkHash(canonicalContent(rowValues(row), { chain, seq }), row.prev_hash);
      if (!recomputed.equals(row.hash)) {
        options.report({ kind: "content_hash", ...where, message: "its content does not give its hash: the row was changed" });
      }
      const checkpoint = signedAt.get(seq);
      if (checkpoint && !checkpoint.hash.equals(row.hash)) {
        options.report({ kind: "checkpoint_hash", ...where, message: "its hash differs from the signed checkpoint's" });
      }
      signedAt.delete(seq);
      previous = row.hash;
      expected = seq + 1;
    }
    rows += page.length;
    options.progress(rows);
    if (page.length < options.pageSize) break;
  }
  const last = expected - 1;
  if (last < record.seq) {
    options.report({
      kind: "missing_tail",
      chain,
      seq: last + 1,
      message: `seqs ${last + 1}–${record.seq} (up to the chain's head) are missing: rows were deleted`,
    });
  } else if (last === record.seq && !previous.equals(record.hash)) {
    options.report({ kind: "link", chain, seq: last, message: "the last row's hash is not the chain head's" });
  }
  for (const checkpoint of signedAt.values()) {
    options.report({
      kind: "checkpoint_row_missing",
      chain,
      seq: checkpoint.seq,
      message: "a signed checkpoint names this row, which is missing",
    });
  }
  return rows;
}
