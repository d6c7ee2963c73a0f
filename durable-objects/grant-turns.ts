import { DurableObject } from "cloudflare:workers";

/**
 * How long one turn may last before the next caller goes anyway (a Worker that died holding it, or was cancelled while
 * its turn came). Longer than a token request's own work: its KV reads and writes and, on a refresh, the groups
 * look-up, which gives up after 15 s (worker/auth/groups/origin-groups.ts).
 */
const TURN_MS = 30_000;
/** Requests waiting on one grant past which another is refused at once: a client retries a few, not dozens. */
const MAX_WAITING = 16;

/**
 * The token requests on one OAuth grant, one at a time (one object per grant). The OAuth library keeps a grant in
 * KV and reads, checks and writes it back without a lock, so two requests presenting the same authorization code or
 * refresh token at the same moment both pass: each got tokens, and neither the code's replay nor the refresh
 * token's reuse was noticed; and a revocation landing between a refresh's read and its write was undone by the write.
 * Taking turns makes them sequential, where the library and the edge's reuse detection see the second as the replay
 * it is. A turn is held across the Worker's own handling (its KV reads and writes), so it lives in memory only:
 * requests on one grant are seconds apart, and a turn outlives no object.
 */
export class GrantTurns extends DurableObject {
  /** Settles when the last turn given out (or waited for) has ended. */
  #last: Promise<void> = Promise.resolve();
  readonly #ends = new Map<string, () => void>();
  #waiting = 0;

  /**
   * Waits for the grant's turn and returns its id, which {@link end} takes; a turn not ended in 30 s ends itself.
   * Throws when too many requests already wait on this grant.
   */
  async begin(): Promise<string> {
    if (this.#waiting >= MAX_WAITING) throw new Error(`more than ${MAX_WAITING} token requests wait on this grant`);
    const previous = this.#last;
    let ended!: () => void;
    this.#last = new Promise<void>((resolve) => {
      ended = resolve;
    });
    this.#waiting += 1;
    try {
      await previous;
    } finally {
      this.#waiting -= 1;
    }
    const turn = crypto.randomUUID();
    const timer = setTimeout(() => this.end(turn), TURN_MS);
    this.#ends.set(turn, () => {
      clearTimeout(timer);
      ended();
    });
    return turn;
  }

  end(turn: string): void {
    const end = this.#ends.get(turn);
    this.#ends.delete(turn);
    end?.();
  }
}
