/**
 * The `_meta` key of an `input_required` result that says how long, in milliseconds from the result, the origin waits
 * for its answers (its requestState expires, its parked exchange is given up, an approval lapses). A 2025-era client's
 * session object asks its client with this as the timeout, so a prompt nobody answers is withdrawn when the origin has
 * given up on it, not after the longest wait any origin may be configured for. A 2026-07-28 client gets it as it is.
 */
export const ANSWER_WITHIN_META_KEY = "mcp-edge/answerWithinMs";

/** The result with its answer deadline: `withinMs`, or the one it carries already if that is sooner. */
export function withAnswerWithin<T extends Record<string, unknown>>(result: T, withinMs: number): T {
  const meta = (isRecord(result._meta) ? result._meta : {}) as Record<string, unknown>;
  return { ...result, _meta: { ...meta, [ANSWER_WITHIN_META_KEY]: Math.min(withinMs, answerWithinOf(result) ?? withinMs) } };
}

/** The answer deadline a result states, if it states a usable one. */
export function answerWithinOf(result: Record<string, unknown>): number | undefined {
  const value = isRecord(result._meta) ? result._meta[ANSWER_WITHIN_META_KEY] : undefined;
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : undefined;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
