/**
 * How long readiness waits for the database: below the edge's 3 s for the origin's `/readyz` (worker/ops/health.ts),
 * so that a database that hangs (a dropped route, a failover under way) is named as such at the edge, not taken for
 * an unreachable origin. The pool's own timeouts (10 s) are for calls, which may wait longer.
 */
export const READINESS_DATABASE_TIMEOUT_MS = 2_000;

/** The database did not answer readiness's query in time (it neither answered nor refused). */
export class DatabaseNotAnswering extends Error {
  constructor(ms: number) {
    super(`not answering (no answer to a query within ${ms / 1000} s)`);
    this.name = "DatabaseNotAnswering";
  }
}

/** Asks the database one trivial query, and gives up on it after `timeoutMs`. */
export async function probeDatabase(query: () => Promise<unknown>, timeoutMs = READINESS_DATABASE_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseNotAnswering(timeoutMs)), timeoutMs);
  });
  try {
    await Promise.race([query(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A query that is not sent again while the last one is still out: readiness gives up on a hanging database after its
 * bound, but the query stays in the pool's connection until the database answers; each probe must not take another.
 */
export function oneAtATime(query: () => Promise<unknown>): () => Promise<unknown> {
  let pending: Promise<unknown> | undefined;
  return () => {
    pending ??= query().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
