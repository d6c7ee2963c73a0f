import type pg from "pg";
import { canonicalContent, GENESIS_HASH, linkHash } from "../chain/link.ts";
import { COLUMN_LIST, rowValues } from "../columns.ts";
import type { StoredCheckpoint } from "./checkpoints.ts";
import type { VerifyProblem } from "./problems.ts";
import type { PurgedRuns } from "./purged-runs.ts";

/** A chain's row in audit_chains: its head. */
export interface ChainRecord {
  chain: number;
  seq: number;
  hash: Buffer;
  /** The chain has rows or checkpoints but no head (reported already): its rows are checked against each other only. */
  headless?: true;
}

/** What the chain's rows are checked against besides themselves. */
export interface ChainHistory {
  checkpoints: readonly StoredCheckpoint[];
  purged: PurgedRuns;
}

export interface WalkOptions {
  pageSize: number;
  report: (problem: VerifyProblem) => void;
  /** Called after each page with the rows checked so far in this chain. */
  progress: (rows: number) => void;
}

const PAGE = `SELECT ${COLUMN_LIST}, seq, prev_hash, hash FROM audit_events
  WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3`;

/** Where the walk is: the next seq expected and the hash the row there must link to. */
interface Walk {
  expected: number;
  previous: Buffer;
}

/**
 * Reads a chain in seq order, a page at a time (keyset on the (chain, seq) index, so memory stays flat), and reports
 * each row whose content, link or place is wrong, and each checkpoint its rows contradict. Returns the rows read.
 */
export async function walkChain(
  db: pg.ClientBase,
  record: ChainRecord,
  history: ChainHistory,
  options: WalkOptions,
): Promise<number> {
  const signedAt = new Map(history.checkpoints.map((checkpoint) => [checkpoint.seq, checkpoint]));
  const walk: Walk = { expected: 1, previous: GENESIS_HASH };
  let rows = 0;
  for (;;) {
    const page = (await db.query(PAGE, [record.chain, walk.expected - 1, options.pageSize])).rows;
    for (const row of page) {
      checkRow(row, record, walk, history.purged).forEach(options.report);
      const seq = Number(row.seq);
      const checkpoint = signedAt.get(seq);
      if (checkpoint && !checkpoint.hash.equals(row.hash)) {
        options.report({
          kind: "checkpoint_hash",
          chain: record.chain,
          seq,
          eventId: row.id,
          message: "its hash differs from the signed checkpoint's",
        });
      }
      signedAt.delete(seq);
      walk.previous = row.hash;
      walk.expected = seq + 1;
    }
    rows += page.length;
    options.progress(rows);
    if (page.length < options.pageSize) break;
  }
  checkEnd(record, walk, history.purged).forEach(options.report);
  for (const checkpoint of signedAt.values()) {
    if (history.purged.covers(checkpoint.seq, checkpoint.seq)) continue;
    options.report({
      kind: "checkpoint_row_missing",
      chain: record.chain,
      seq: checkpoint.seq,
      message: "a signed checkpoint names this row, which is missing",
    });
  }
  return rows;
}

/**
 * One row's problems: after the head, seqs missing before it (unless retention recorded deleting them: then its link
 * cannot be checked), a link to another hash than the row before's, a content that does not give its hash.
 */
function checkRow(row: Record<string, unknown>, record: ChainRecord, walk: Walk, purged: PurgedRuns): VerifyProblem[] {
  const seq = Number(row.seq);
  const where = { chain: record.chain, seq, eventId: row.id as string };
  const problems: VerifyProblem[] = [];
  if (!record.headless && seq > record.seq)
    problems.push({ kind: "beyond_head", ...where, message: `after the chain's head (seq ${record.seq})` });
  const purgedBefore = seq > walk.expected && purged.covers(walk.expected, seq - 1);
  if (seq > walk.expected && !purgedBefore) {
    const missing = seq - 1 === walk.expected ? `seq ${walk.expected} is` : `seqs ${walk.expected}–${seq - 1} are`;
    problems.push({ kind: "gap", ...where, message: `${missing} missing before this row: rows were deleted` });
  } else if (!purgedBefore && !walk.previous.equals(row.prev_hash as Buffer)) {
    problems.push({ kind: "link", ...where, message: "its previous hash is not the hash of the row before it" });
  }
  const recomputed = linkHash(canonicalContent(rowValues(row), { chain: record.chain, seq }), row.prev_hash as Buffer);
  if (!recomputed.equals(row.hash as Buffer)) {
    problems.push({ kind: "content_hash", ...where, message: "its content does not give its hash: the row was changed" });
  }
  return problems;
}

/** After the last row: the head must be that row, or the rows up to it deleted by retention. */
function checkEnd(record: ChainRecord, walk: Walk, purged: PurgedRuns): VerifyProblem[] {
  if (record.headless) return [];
  const last = walk.expected - 1;
  if (last < record.seq && !purged.covers(last + 1, record.seq)) {
    const message = `seqs ${last + 1}–${record.seq} (up to the chain's head) are missing: rows were deleted`;
    return [{ kind: "missing_tail", chain: record.chain, seq: last + 1, message }];
  }
  if (last === record.seq && !walk.previous.equals(record.hash)) {
    return [{ kind: "link", chain: record.chain, seq: last, message: "the last row's hash is not the chain head's" }];
  }
  return [];
}
