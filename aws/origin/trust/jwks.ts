import { createRemoteJWKSet, type JWTVerifyGetKey } from "jose";

/**
 * The edge's public keys, fetched from its JWKS endpoint and cached. An unknown `kid` triggers a refetch
 * (at most every 30 s), so a rotated edge key is picked up without restarting the origin.
 */
export function edgeKeys(jwksUrl: string): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000 });
}
