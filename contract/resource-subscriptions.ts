/**
 * The resources one client may have watched at once, in one place for both eras: a 2025-era session's subscriptions
 * (the edge's session object keeps them, and a client resuming its GET stream is told that each may have changed, one
 * logged event each), and the `resourceSubscriptions` of one 2026-07-28 `subscriptions/listen` (the origin routes each
 * URI and asks the upstream to watch each). It bounds what one request costs the origin and the upstream.
 */
export const MAX_SUBSCRIPTIONS = 1000;

/**
 * The refusal (JSON-RPC invalid params) of a `subscriptions/listen` naming more resources than one listen may watch,
 * or undefined when `uris` is within the bound. Every entry counts, as every one would be looked at.
 */
export function tooManySubscriptions(uris: unknown): string | undefined {
  if (!Array.isArray(uris) || uris.length <= MAX_SUBSCRIPTIONS) return undefined;
  return (
    `subscriptions/listen may watch at most ${MAX_SUBSCRIPTIONS} resources, and this one names ${uris.length}: ` +
    "list only the resources you need, or spread them over several listens"
  );
}
