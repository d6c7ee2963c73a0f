import { DurableObject } from "cloudflare:workers";

/** How long one turn may last before the next caller goes anyway (a Worker that died holding it). */
const TURN_MS = 10_000;

/**
 * The token requests on one OAuth grant, one at a time (one object per grant). The OAuth library keeps a grant in
 * KV and reads, checks and writes it back without a lock, so two requests presenting the same authorization code or
 * refresh token at the same moment both pass: each got tokens, and neither the code's replay nor the refresh
 * token's reuse was noticed. Taking turns makes concurrent requests sequential, where the library and the edge's
 * reuse detection see the second as the replay it is. A turn is held across the Worker's own handling (its KV reads
 * and writes), so it lives in memory only: requests on one grant are seconds apart, and a turn outlives no object.
 */
export class GrantTurns extends DurableObject {
  /** Settles when the last turn given out (or waited for) has ended. */
  #last: Promise<void> = Promise.resolve();
  readonly #ends = new Map<string, () => void>();

  /** Waits for the grant's turn and returns its id, which {@link end} takes; a turn not ended in 10 s ends itself. */
  async begin(): Promise<string> {
    const previous = this.#last;
    let ended!: () => void;
    this.#last = new Promise<void>((resolve) => {
      ended = resolve;
    });
    await previous;
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
