import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type ExportedJWKSCache,
  errors,
  type JWKSCacheInput,
  type JWTVerifyGetKey,
  jwksCache,
} from "jose";
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

/** How long the origin trusts its copy of the edge's key set, and what it does when a refresh fails. */
export interface EdgeKeyTiming {
  /** A copy older than this is fetched again before it is used. */
  cacheMaxAgeMs: number;
  /**
   * How long past `cacheMaxAgeMs` a copy still checks assertions while the key set cannot be read: a refresh that fails
   * (the edge's Worker failing, a network blip) must not refuse every request signed with a key the origin verified
   * minutes ago (s28 keys hunt F2). Past it, every request is refused (503).
   */
  staleForMs: number;
  /** While the copy is used that way, how often a request tries to read the set again (the others use the copy at once). */
  staleRetryEveryMs: number;
  /**
   * An unknown `kid` makes the origin fetch the set again at once, at most this often (jose alone waits out its 30 s
   * cooldown): a key swapped in without step 1 of the rotation is picked up on its first request (s28 keys hunt F1).
   */
  unknownKidReloadEveryMs: number;
}

const TIMING: EdgeKeyTiming = {
  cacheMaxAgeMs: 10 * 60_000,
  staleForMs: 60 * 60_000,
  staleRetryEveryMs: 30_000,
  unknownKidReloadEveryMs: 5_000,
};

/**
 * The edge's public keys, fetched from its JWKS endpoint and cached (see `EdgeKeyTiming`), so that a rotated edge key
 * is picked up without restarting the origin. `log` hears when the origin starts and stops checking with an old copy.
 */
export function edgeKeys(jwksUrl: string, timing: EdgeKeyTiming = TIMING, log: (line: string) => void = () => {}): EdgeKeys {
  // jose writes each set it reads here, with the time: the copy kept when a refresh fails.
  const lastRead: Partial<ExportedJWKSCache> = {};
  const remote = createRemoteJWKSet(new URL(jwksUrl), {
    cooldownDuration: 30_000,
    cacheMaxAge: timing.cacheMaxAgeMs,
    timeoutDuration: 5_000,
    [jwksCache]: lastRead as JWKSCacheInput,
  });
  const fromRemote = withUnknownKidReload(remote, timing.unknownKidReloadEveryMs);
  const staleCopy = () => {
    const { uat, jwks } = lastRead;
    const usable = jwks && uat !== undefined && Date.now() - uat < timing.cacheMaxAgeMs + timing.staleForMs;
    return usable ? { keys: createLocalJWKSet(jwks), readAt: new Date(uat).toISOString() } : undefined;
  };
  let lastFailure: { message: string; at: number } | undefined;
  const getKey: JWTVerifyGetKey = async (header, token) => {
    // Checking with the old copy: only one request in `staleRetryEveryMs` waits for the edge again, not every one.
    const stale = lastFailure && Date.now() - lastFailure.at < timing.staleRetryEveryMs ? staleCopy() : undefined;
    if (stale) return stale.keys(header, token);
    try {
      const key = await fromRemote(header, token);
      if (lastFailure) log(`the edge's key set at ${jwksUrl} is read again: assertions are checked with it`);
      lastFailure = undefined;
      return key;
    } catch (error) {
      if (keyIdFailure(error)) {
        lastFailure = undefined;
        throw error;
      }
      // Any other failure (a non-200 answer, not a key set, a timeout) is the set's: jose names only some of them.
      const unavailable = new EdgeKeySetUnavailable(jwksUrl, error);
      const copy = staleCopy();
      const kept = copy ? `; assertions are checked with the copy read at ${copy.readAt} until it is an hour too old` : "";
      if (!lastFailure) log(`${unavailable.message}${kept}`);
      lastFailure = { message: `${unavailable.message}${kept}`, at: Date.now() };
      if (copy) return copy.keys(header, token);
      throw unavailable;
    }
  };
  // A failure older than a minute is not reported: on a quiet task no request may come to find the set readable again.
  const unreadable = () =>
    lastFailure && Date.now() - lastFailure.at < UNREADABLE_REPORTED_MS ? lastFailure.message : undefined;
  return { algorithm: EDGE_ASSERTION_ALG, getKey, unreadable };
}

/**
 * jose's key look-up, reading the set again at once for a `kid` it does not hold, at most once per `everyMs`; requests
 * that come while that read runs wait for it, rather than being refused (s28 review R2).
 */
function withUnknownKidReload(remote: ReturnType<typeof createRemoteJWKSet>, everyMs: number): JWTVerifyGetKey {
  let reload: { at: number; done: Promise<void> } | undefined;
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      if (!reload || Date.now() - reload.at >= everyMs) reload = { at: Date.now(), done: remote.reload() };
      await reload.done;
      return remote(header, token);
    }
  };
}
