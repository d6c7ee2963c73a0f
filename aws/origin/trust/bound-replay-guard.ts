/**
 * This process's record of the assertions bound to it (the `instance` claim): only this process can accept them,
 * so a replay is refused from memory, without a database write on every request. Its instance name changes with
 * every start (see start-origin.ts), so nothing accepted by an earlier run of the task can be accepted again.
 */
export interface BoundReplayGuard {
  /** True the first time a jti is seen, false ever after (until `expiresAt`, when the assertion is refused anyway). */
  claim(jti: string, expiresAt: Date): boolean;
  /** How many jtis are held now. */
  size(): number;
}

/** The memory is bounded: a full record refuses (503) rather than forget a jti that could still be replayed. */
export class BoundReplayGuardFull extends Error {
  constructor(max: number) {
    super(`more than ${max} assertions bound to this instance in one assertion lifetime; try again shortly`);
    this.name = "BoundReplayGuardFull";
  }
}

/**
 * One million jtis (about 150 MB at most) is over 16,000 requests a second for an assertion's 90 s: far beyond
 * what one origin task serves.
 */
const DEFAULT_MAX_ENTRIES = 1_000_000;

export function createBoundReplayGuard(options: { maxEntries?: number; now?: () => number } = {}): BoundReplayGuard {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const now = options.now ?? Date.now;
  // Insertion order is expiry order (every assertion lives as long), so expired jtis are dropped from the front.
  const seen = new Map<string, number>();
  const dropExpired = () => {
    const at = now();
    for (const [jti, until] of seen) {
      if (until > at) break;
      seen.delete(jti);
    }
  };
  return {
    claim(jti, expiresAt) {
      if (jti.length === 0) throw new TypeError("jti must not be empty");
      dropExpired();
      if (seen.has(jti)) return false;
      if (seen.size >= maxEntries) throw new BoundReplayGuardFull(maxEntries);
      seen.set(jti, expiresAt.getTime());
      return true;
    },
    size: () => seen.size,
  };
}
