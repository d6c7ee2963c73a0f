import type { SecretsProvider } from "./provider.ts";

/** How often one secret's cached value may be forgotten (an upstream refusing every request must not hammer the backend). */
export const INVALIDATE_INTERVAL_MS = 10_000;

/**
 * The provider with `invalidate` taking effect at most once per name per `INVALIDATE_INTERVAL_MS`: a rotated credential
 * is read anew on the first refusal, while a wrong one (an upstream that refuses every request, for every user) costs
 * the backend one read per name every ten seconds, not one per request. A provider without a cache is returned as is.
 */
export function withBoundedInvalidate(provider: SecretsProvider, now: () => number = Date.now): SecretsProvider {
  const { invalidate } = provider;
  if (!invalidate) return provider;
  const lastInvalidated = new Map<string, number>();
  return {
    get: (name) => provider.get(name),
    invalidate(name) {
      const at = now();
      if (at - (lastInvalidated.get(name) ?? Number.NEGATIVE_INFINITY) < INVALIDATE_INTERVAL_MS) return;
      lastInvalidated.set(name, at);
      invalidate.call(provider, name);
    },
  };
}
