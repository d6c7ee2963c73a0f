import { createRemoteJWKSet, errors, type JWTVerifyGetKey } from "jose";
import { EDGE_ASSERTION_ALG } from "../../../contract/edge-assertion.ts";
import type { EDGE_ASSERTION_HMAC_ALG } from "../../../contract/edge-shared-key.ts";

/** What the origin verifies edge assertions with: the one algorithm it accepts, and where a `kid`'s key comes from. */
export interface EdgeKeys {
  algorithm: typeof EDGE_ASSERTION_ALG | typeof EDGE_ASSERTION_HMAC_ALG;
  getKey: JWTVerifyGetKey;
  /** Why the keys could not be read the last time they were fetched (absent: they were, or need no fetching). */
  unreadable?: () => string | undefined;
}

/**
 * The edge's key set could not be read (its URL answered no key set, or nothing, in time): no assertion can be
 * checked, whoever sent it. Not the assertion's fault, so not a refusal of it: a 503 that names the setting.
 */
export class EdgeKeySetUnavailable extends Error {
  constructor(jwksUrl: string, cause: unknown) {
    super(
      `the edge's key set at ${jwksUrl} could not be read (${cause instanceof Error ? cause.message : String(cause)}): no edge assertion can be checked until it can; check edgeJwksUrl and that the edge answers it`,
    );
    this.name = "EdgeKeySetUnavailable";
  }
}

/** How long readiness reports a failure to read the key set (requests in that time each try again). */
const UNREADABLE_REPORTED_MS = 60_000;

/** Failures that concern the assertion's key id, not the key set: the set was read. */
const keyIdFailure = (error: unknown) =>
  error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys;

/**
 * The edge's public keys, fetched from its JWKS endpoint and cached. An unknown `kid` triggers a refetch
 * (at most every 30 s), so a rotated edge key is picked up without restarting the origin.
 */
export function edgeKeys(jwksUrl: string): EdgeKeys {
  const remote = createRemoteJWKSet(new URL(jwksUrl), {
    cooldownDuration: 30_000,
    cacheMaxAge: 10 * 60_000,
    timeoutDuration: 5_000,
  });
  let lastFailure: { message: string; at: number } | undefined;
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      const key = await remote(header, token);
      lastFailure = undefined;
      return key;
    } catch (error) {
      if (keyIdFailure(error)) {
        lastFailure = undefined;
        throw error;
      }
      // Any other failure (a non-200 answer, not a key set, a timeout) is the set's: jose names only some of them.
      const unavailable = new EdgeKeySetUnavailable(jwksUrl, error);
      lastFailure = { message: unavailable.message, at: Date.now() };
      throw unavailable;
    }
  };
  // A failure older than a minute is not reported: on a quiet task no request may come to find the set readable again.
  const unreadable = () =>
    lastFailure && Date.now() - lastFailure.at < UNREADABLE_REPORTED_MS ? lastFailure.message : undefined;
  return { algorithm: EDGE_ASSERTION_ALG, getKey, unreadable };
}
