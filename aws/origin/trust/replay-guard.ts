import { ProtocolError } from "@modelcontextprotocol/server";
import type pg from "pg";

export interface ReplayGuard {
  /**
   * Records a single-use value: an edge assertion's `jti`, or a requestState's nonce (prefixed with
   * what it is, `approval:` or `call-limit:`). True the first time it is seen by any origin task
   * sharing the database, false ever after (until the row is purged, well after `expiresAt`): then
   * it is a replay and must be refused. Pass the last moment at which the value could still be
   * accepted (for an assertion, its expiry plus the accepted clock skew).
   */
  claim(jti: string, expiresAt: Date): Promise<boolean>;
  /** Deletes the rows of assertions that have expired and returns how many. `claim` calls it now and then. */
  purgeExpired(): Promise<number>;
  /** Resolves once no purge started by `claim` is running; await it before ending the pool. */
  idle(): Promise<void>;
}

export interface ReplayGuardOptions {
  /** Least time between two purges started by `claim` in this process (default one minute). */
  purgeIntervalMs?: number;
  /** Clock used to space purges out (default `Date.now`). */
  now?: () => number;
  /** Told how many rows a background purge deleted. */
  onPurged?: (deleted: number) => void;
  /** Told when a background purge failed; the claim that started it is not affected. */
  onPurgeError?: (error: unknown) => void;
}

// The primary key makes this atomic across connections and origin tasks: of any number of
// concurrent claims of one jti, exactly one inserts the row and gets it back.
const CLAIM = "INSERT INTO assertion_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING RETURNING jti";

// Expiry is judged by the database's clock, which all tasks share. A minute of margin covers an
// origin task whose clock runs behind it: a row must outlive the moment at which any task could
// still accept its assertion as unexpired.
const PURGE = "DELETE FROM assertion_jtis WHERE expires_at < now() - interval '1 minute'";

export function createReplayGuard(pool: pg.Pool, options: ReplayGuardOptions = {}): ReplayGuard {
  const purgeIntervalMs = options.purgeIntervalMs ?? 60_000;
  const now = options.now ?? Date.now;
  let lastPurgeStart = Number.NEGATIVE_INFINITY;
  let running: Promise<void> | undefined;

  async function purgeExpired(): Promise<number> {
    const result = await pool.query(PURGE);
    return result.rowCount ?? 0;
  }

  // Started, never awaited, by claim: at most one at a time and one per interval.
  function maybePurge(): void {
    if (running || now() - lastPurgeStart < purgeIntervalMs) return;
    lastPurgeStart = now();
    running = (async () => {
      try {
        const deleted = await purgeExpired(); // not inside `onPurged?.(…)`, which skips it when unset
        options.onPurged?.(deleted);
      } catch (error) {
        options.onPurgeError?.(error);
      }
    })()
      .catch(() => {}) // a throwing onPurgeError must not become an unhandled rejection
      .finally(() => {
        running = undefined;
      });
  }

  return {
    async claim(jti, expiresAt) {
      if (jti.length === 0) throw new TypeError("jti must not be empty");
      if (Number.isNaN(expiresAt.getTime())) throw new TypeError("expiresAt must be a valid date");
      const result = await pool.query(CLAIM, [jti, expiresAt]);
      maybePurge();
      return result.rowCount === 1;
    },
    purgeExpired,
    async idle() {
      await running;
    },
  };
}

/**
 * `claim` for a request's single-use values (approvals, later rounds): a database that does not answer refuses the
 * request with a plain JSON-RPC error, instead of the driver's message (which names internal addresses) reaching the
 * client as if the upstream had failed.
 */
export function claimOrRefuse(claim: ReplayGuard["claim"], log: (line: string) => void): ReplayGuard["claim"] {
  return async (value, expiresAt) => {
    try {
      return await claim(value, expiresAt);
    } catch (error) {
      log(`single-use value: the database did not answer (${(error as Error).message})`);
      throw new ProtocolError(
        -32000,
        "the gateway could not check this request just now (its database did not answer); try again shortly",
      );
    }
  };
}
