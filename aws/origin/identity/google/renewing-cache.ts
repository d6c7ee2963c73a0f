/** Something that lapses at `expiresAt` (epoch milliseconds). */
export interface Expiring {
  expiresAt: number;
}

/** Entries kept at most; past that the oldest are forgotten first (a Map keeps insertion order). */
const MAX_ENTRIES = 10_000;

/**
 * Remembers each key's answer until it has less than `minRemainingMs` left (each caller says how much it needs), and
 * lets concurrent callers for one key share one renewal in flight. A failed renewal is not remembered.
 */
export function renewingCache<T extends Expiring>(
  renew: (key: string) => Promise<T>,
  now: () => number = Date.now,
): (key: string, minRemainingMs: number) => Promise<T> {
  const found = new Map<string, T>();
  const inFlight = new Map<string, Promise<T>>();
  return (key, minRemainingMs) => {
    const cached = found.get(key);
    if (cached && cached.expiresAt - now() > minRemainingMs) return Promise.resolve(cached);
    const pending = inFlight.get(key);
    if (pending) return pending;
    const started = renew(key)
      .then((value) => {
        found.delete(key);
        found.set(key, value);
        if (found.size > MAX_ENTRIES) found.delete(found.keys().next().value as string);
        return value;
      })
      .finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  };
}
