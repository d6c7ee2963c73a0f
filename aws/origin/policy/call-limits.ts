import { ProtocolError } from "@modelcontextprotocol/server";
import { CALL_LIMIT_CODE } from "../../../contract/config/policy.ts";
import { MAX_INPUT_WAIT_SECONDS } from "../../../contract/config/schema.ts";
import type { ReplayGuard } from "../trust/replay-guard.ts";
import type { LimitingRule } from "./user-policy.ts";

/** Budgets kept before the spent ones are swept out: one number each, so this bounds memory, not users. */
const SWEEP_ABOVE = 100_000;
/** How long a spent continuation nonce is remembered: as long as any requestState may live. */
const CONTINUATION_MEMORY_MS = MAX_INPUT_WAIT_SECONDS * 1000;
/** Where these nonces sit among the other single-use values of the shared record (edge assertions' jtis). */
const NONCE_PREFIX = "call-limit:";

/**
 * The budgets of the policy's `limit` rules, per user and rule, in this origin instance. A user's traffic stays
 * on one instance (the balancer's stickiness), so their budget is counted in one place without a database round
 * trip; when the user moves to another instance (theirs was lost or replaced) the count starts afresh there.
 *
 * Each budget is the generic cell rate algorithm (GCRA, as in ATM traffic shaping and most rate limiters): one
 * "theoretical arrival time" per budget. A rule of `calls` in `seconds` admits a burst of `calls`, then one call
 * every `seconds / calls`; a refused call costs nothing.
 */
export class CallLimits {
  readonly #due = new Map<string, number>();
  readonly #claimOnce: ReplayGuard["claim"];
  readonly #now: () => number;

  /**
   * `claimOnce` records a later round's nonce where every origin instance sees it (the replay guard's table): a
   * requestState opens on any instance holding the same REQUEST_STATE_KEY, and on this one after a restart.
   */
  constructor(claimOnce: ReplayGuard["claim"], now: () => number = Date.now) {
    this.#claimOnce = claimOnce;
    this.#now = now;
  }

  /** Throws `CallLimitRefusal` when any of `rules` has no budget left for `user` now; spends nothing. */
  check(user: string, rules: readonly LimitingRule[]): void {
    this.#plan(user, rules, this.#now());
  }

  /**
   * Counts one call of `user` against every rule in `rules`, or counts none and throws `CallLimitRefusal` when any
   * of them has no budget left (so a call refused by one rule does not spend another's).
   */
  take(user: string, rules: readonly LimitingRule[]): void {
    const now = this.#now();
    for (const [key, due] of this.#plan(user, rules, now)) this.#due.set(key, due);
    if (this.#due.size > SWEEP_ABOVE) this.#sweep(now);
  }

  /**
   * Whether a later round of a counted call goes through without counting again: true the first time its nonce is
   * seen, false for a nonce spent already (the round is sent again, and the upstream runs it again) or none (the
   * call began before any limit covered it).
   */
  async continues(nonce: string | undefined): Promise<boolean> {
    if (nonce === undefined) return false;
    return this.#claimOnce(NONCE_PREFIX + nonce, new Date(this.#now() + CONTINUATION_MEMORY_MS));
  }

  /** Each rule's budget key and its due time after one more call, or the refusal of the first rule without budget. */
  #plan(user: string, rules: readonly LimitingRule[], now: number): [string, number][] {
    return rules.map((rule) => {
      const key = `${rule.index}\u0000${user}`;
      const window = rule.seconds * 1000;
      const interval = window / rule.calls;
      const due = Math.max(this.#due.get(key) ?? now, now);
      const early = due + interval - now - window;
      if (early > 0) throw new CallLimitRefusal(rule, Math.ceil(early / 1000));
      return [key, due + interval];
    });
  }

  /** Forgets the budgets that are whole again (their due time has passed). */
  #sweep(now: number): void {
    for (const [key, due] of this.#due) if (due <= now) this.#due.delete(key);
  }
}

/** A call over a `limit` rule's budget: JSON-RPC error -32008, naming the rule and when to try again. */
export class CallLimitRefusal extends ProtocolError {
  constructor(rule: LimitingRule, retryAfterSeconds: number) {
    super(
      CALL_LIMIT_CODE,
      `refused by policy: ${rule.label} allows you ${rule.calls} call${rule.calls === 1 ? "" : "s"} in ${rule.seconds} seconds; try again in ${retryAfterSeconds} seconds`,
      { retryAfterSeconds },
    );
    this.name = "CallLimitRefusal";
  }
}
