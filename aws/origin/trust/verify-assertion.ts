import { errors, jwtVerify } from "jose";
import {
  EDGE_ASSERTION_MAX_SKEW_SECONDS,
  EDGE_ASSERTION_TTL_SECONDS,
  EDGE_ASSERTION_TYPE,
  EdgeAssertionClaims,
  type VerifiedEdgeClaims,
} from "../../../contract/edge-assertion.ts";
import type { EdgeKeys } from "./jwks.ts";

/** Why an assertion was refused; the origin answers with this name so an operator can see which check failed. */
export const REJECTION_REASONS = [
  "missing",
  "malformed",
  "signature",
  "algorithm",
  "type",
  "issuer",
  "audience",
  "expired",
  "claims",
  "instance",
  "replayed",
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export class AssertionRejected extends Error {
  readonly reason: RejectionReason;
  constructor(reason: RejectionReason, detail: string) {
    super(`edge assertion refused (${reason}): ${detail}`);
    this.name = "AssertionRejected";
    this.reason = reason;
  }
}

export interface VerifiedAssertion extends VerifiedEdgeClaims {
  jti: string;
  exp: number;
}

export interface AssertionVerifierOptions {
  /** The edge's publicUrl: the only accepted `iss`. */
  issuer: string;
  /** This origin's URL as the edge names it: the only accepted `aud`. */
  audience: string;
  /** The edge's keys and their one algorithm: its published EC keys (jwks.ts) or keys shared with it (shared-keys.ts). */
  keys: EdgeKeys;
  /** Records the `jti` of an assertion any instance could accept, in storage they share; false means it was seen before. */
  claimJti: (jti: string, expiresAt: Date) => Promise<boolean>;
  /**
   * This instance's name and its own record of the assertions bound to it (the `instance` claim): no other
   * instance accepts those, so this process's memory is enough to refuse a replay. Without it, every `jti` is
   * claimed in shared storage and an assertion bound to any instance is refused.
   */
  bound?: { instance: string; claimJti: (jti: string, expiresAt: Date) => boolean };
}

/** The origin's gate: signature, algorithm, type, issuer, audience, lifetime, claims, then single use. Each failure names its check. */
export function createAssertionVerifier(
  options: AssertionVerifierOptions,
): (token: string | undefined) => Promise<VerifiedAssertion> {
  return async (token) => {
    if (!token) throw new AssertionRejected("missing", "the request carries no edge assertion");
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, options.keys.getKey, {
        algorithms: [options.keys.algorithm],
        typ: EDGE_ASSERTION_TYPE,
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: EDGE_ASSERTION_MAX_SKEW_SECONDS,
        // An assertion minted long ago with a far `exp` is refused too. jose adds clockTolerance to this age itself,
        // so the lifetime alone gives the documented bound (60 s + 30 s); adding the skew here made it 120 s.
        maxTokenAge: EDGE_ASSERTION_TTL_SECONDS,
        requiredClaims: ["jti", "exp", "iat", "sub"],
      }));
    } catch (error) {
      throw rejectionOf(error, options.keys.algorithm);
    }
    const claims = EdgeAssertionClaims.safeParse(payload);
    if (!claims.success)
      throw new AssertionRejected(
        "claims",
        claims.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "),
      );
    const jti = payload.jti as string;
    const exp = payload.exp as number;
    const instance = claims.data.instance;
    if (instance !== undefined && instance !== options.bound?.instance)
      throw new AssertionRejected("instance", `the assertion is for origin instance "${instance}", not this one`);
    const keepUntil = new Date(acceptedUntil(exp, payload.iat as number) * 1000);
    const first =
      instance !== undefined && options.bound ? options.bound.claimJti(jti, keepUntil) : await options.claimJti(jti, keepUntil);
    if (!first) throw new AssertionRejected("replayed", "this assertion was already used");
    return { ...claims.data, jti, exp };
  };
}

/**
 * The moment (epoch seconds) from which the checks above refuse this assertion, so the single-use guard remembers its
 * jti as long as a replay could pass them. jose counts whole seconds and tolerates the skew on both bounds: it refuses
 * from `exp + skew` on, and once the age less the skew exceeds the lifetime, i.e. from `iat + lifetime + skew + 1` on.
 */
export function acceptedUntil(exp: number, iat: number): number {
  return Math.min(exp, iat + EDGE_ASSERTION_TTL_SECONDS + 1) + EDGE_ASSERTION_MAX_SKEW_SECONDS;
}

function rejectionOf(error: unknown, accepted: EdgeKeys["algorithm"]): AssertionRejected {
  if (error instanceof errors.JWTExpired) return new AssertionRejected("expired", error.message);
  if (error instanceof errors.JWTClaimValidationFailed) {
    const reason =
      ({ iss: "issuer", aud: "audience", typ: "type", iat: "expired", nbf: "expired" } as const)[error.claim as "iss"] ??
      "claims";
    return new AssertionRejected(reason, error.message);
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    // Besides forgeries, the one honest mistake behind it: the tiers configured for different kinds of key (docs/edge-assertion.md#keys).
    return new AssertionRejected(
      "algorithm",
      `${error.message}: this origin accepts ${accepted} only (${accepted === "HS256" ? "EDGE_ASSERTION_SHARED_KEYS is set" : "no EDGE_ASSERTION_SHARED_KEYS"}); a forged token, or the edge's EDGE_SIGNING_KEY is of the other kind`,
    );
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey) {
    return new AssertionRejected("signature", error.message);
  }
  // The edge's key set unreachable or unusable is not the assertion's fault: a 5xx, not a refusal.
  const keySetFault = error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid;
  if (error instanceof errors.JOSEError && !keySetFault) return new AssertionRejected("malformed", error.message);
  throw error;
}
