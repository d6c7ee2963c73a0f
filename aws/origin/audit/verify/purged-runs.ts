import type pg from "pg";

const PURGES = "SELECT from_seq, to_seq FROM audit_chain_purges WHERE chain = $1 ORDER BY from_seq";

/** The seqs of one chain that retention recorded as deleted (docs/audit.md, "Retention"). */
export interface PurgedRuns {
  /** Whether every seq from `from` to `to` (inclusive) was deleted by retention. */
  covers(from: number, to: number): boolean;
}

/** A chain's purge records, merged into disjoint runs (a few per purge: they fit in memory). */
export async function purgedRuns(db: pg.ClientBase, chain: number): Promise<PurgedRuns> {
  const { rows } = await db.query(PURGES, [chain]);
  const runs: [number, number][] = [];
  for (const row of rows) {
    const from = Number(row.from_seq);
    const to = Number(row.to_seq);
    const last = runs.at(-1);
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else runs.push([from, to]);
  }
  return {
    covers: (from, to) => runs.some(([start, end]) => start <= from && to <= end),
  };
}
