/** What verify found wrong, each naming where (chain, seq, event id when the row exists) and what failed. */
export type ProblemKind =
  | "content_hash" // the row's content no longer gives its hash: a column was changed
  | "link" // the row's previous hash is not the hash of the row before it: a row inserted, deleted or moved before it
  | "gap" // seqs missing before this row: rows deleted
  | "missing_tail" // the chain's head names rows after the last one present: rows deleted at the end
  | "beyond_head" // a row after the chain's head: a row added by hand
  | "outside_chain" // a row in no chain, stored after chaining began: a row added by hand
  | "invalid_seq" // a row in a chain at a seq below 1, which no chain writes: a row added by hand
  | "no_head" // rows or checkpoints of a chain that has no head: the head was deleted (its rows are still walked)
  | "checkpoint_signature" // a checkpoint whose signature does not match it (or whose key is unknown)
  | "checkpoint_hash" // a signed checkpoint whose hash differs from its row's: the chain was rewritten
  | "checkpoint_row_missing" // a signed checkpoint whose row is gone
  | "untrusted_key"; // a checkpoint signed by a key that is not one of those given to verify

export interface VerifyProblem {
  kind: ProblemKind;
  chain?: number;
  seq?: number;
  eventId?: string;
  message: string;
}

/** One line naming the problem: `chain 2 seq 17 event <id>: content_hash: …`. */
export function describeProblem(problem: VerifyProblem): string {
  const where = [
    problem.chain !== undefined && `chain ${problem.chain}`,
    problem.seq !== undefined && `seq ${problem.seq}`,
    problem.eventId !== undefined && `event ${problem.eventId}`,
  ].filter(Boolean);
  return `${where.join(" ")}${where.length > 0 ? ": " : ""}${problem.kind}: ${problem.message}`;
}
