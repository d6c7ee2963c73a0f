/**
 * A readiness probe that asks its dependency at most once per `freshMs`, however often it is asked: `/readyz` is
 * reachable from the internet through the edge's own `/readyz`, and a flood of it must not become a flood of database
 * queries that takes the pool's connections from real calls. Callers within the window share the last outcome, a
 * failure included; callers while a check runs wait for that one.
 */
export function coalescedProbe(check: () => Promise<void>, freshMs: number, now: () => number = Date.now): () => Promise<void> {
  let last: { outcome: Promise<void>; at: number } | undefined;
  return () => {
    if (last && now() - last.at < freshMs) return last.outcome;
    const outcome = check();
    // The window starts when the answer is in, so a slow check is not followed at once by another.
    const entry = { outcome, at: Number.POSITIVE_INFINITY };
    last = entry;
    outcome.then(
      () => {
        entry.at = now();
      },
      () => {
        entry.at = now();
      },
    );
    return outcome;
  };
}
