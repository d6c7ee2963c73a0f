import { createRemoteJWKSet, type JWTVerifyGetKey } from "jose";
import { EDGE_ASSERTION_ALG } from "../../../contract/edge-assertion.ts";
import type { EDGE_ASSERTION_HMAC_ALG } from "../../../contract/edge-shared-key.ts";

/** What the origin verifies edge assertions with: the one algorithm it accepts, and where a `kid`'s key comes from. */
export interface EdgeKeys {
  algorithm: typeof EDGE_ASSERTION_ALG | typeof EDGE_ASSERTION_HMAC_ALG;
  getKey: JWTVerifyGetKey;
}

/**
 * The edge's public keys, fetched from its JWKS endpoint and cached. An unknown `kid` triggers a refetch
 * (at most every 30 s), so a rotated edge key is picked up without restarting the origin.
 */
export function edgeKeys(jwksUrl: string): EdgeKeys {
  const getKey = createRemoteJWKSet(new URL(jwksUrl), {
    cooldownDuration: 30_000,
    cacheMaxAge: 10 * 60_000,
    timeoutDuration: 5_000,
  });
  return { algorithm: EDGE_ASSERTION_ALG, getKey };
}
