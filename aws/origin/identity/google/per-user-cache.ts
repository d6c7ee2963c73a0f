/** What a look-up found, and when (epoch milliseconds): a cached answer keeps the time it was first found. */
export interface Found<T> {
  value: T;
  foundAt: number;
}

/** Entries kept at most; past that the oldest are forgotten first (a Map keeps insertion order). */
const MAX_ENTRIES = 10_000;

/**
 * Remembers each key's answer for `ttlMs`, and lets concurrent callers for one key share one look-up in flight.
 * A failed look-up is not remembered: the next caller tries again. A caller may accept less: `maxAgeMs` (an edge
 * whose groups TTL is shorter than this cache's) has an older answer read again.
 */
export function perUserCache<T>(
  ttlMs: number,
  lookUp: (key: string) => Promise<T>,
): (key: string, maxAgeMs?: number) => Promise<Found<T>> {
  const found = new Map<string, Found<T>>();
  const inFlight = new Map<string, Promise<Found<T>>>();
  return (key, maxAgeMs = ttlMs) => {
    const cached = found.get(key);
    if (cached && Date.now() - cached.foundAt < Math.min(ttlMs, maxAgeMs)) return Promise.resolve(cached);
    const pending = inFlight.get(key);
    if (pending) return pending;
    // Stamped when the Directory is asked, not when it answers: an answer says no more than what held then.
    const askedAt = Date.now();
    const started = lookUp(key)
      .then((value) => {
        const answer = { value, foundAt: askedAt };
        found.delete(key);
        if (ttlMs > 0) found.set(key, answer);
        if (found.size > MAX_ENTRIES) found.delete(found.keys().next().value as string);
        return answer;
      })
      .finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  };
}
