import { SignJWT } from "jose";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import {
  EDGE_ASSERTION_TTL_SECONDS,
  EDGE_ASSERTION_TYPE,
  type EdgeAssertionClaims,
  MAX_EDGE_ASSERTION_BYTES,
} from "../../contract/edge-assertion.ts";
import { loadSigningKey } from "./signing-key.ts";

/** An assertion too large for the way to the origin: nothing an MCP client can change, so it is told what to ask for. */
export class AssertionTooLarge extends Error {
  constructor(bytes: number, groups: number) {
    super(
      `your sign-in carries ${groups} groups, too many to pass to the origin (${Math.ceil(bytes / 1024)} KiB of the ${MAX_EDGE_ASSERTION_BYTES / 1024} KiB allowed): ask an administrator to keep only the groups that matter (groups.include)`,
    );
    this.name = "AssertionTooLarge";
  }
}

/**
 * Signs a fresh single-use assertion for one request to the origin: who asks, through which client, for which server.
 * Throws AssertionTooLarge past MAX_EDGE_ASSERTION_BYTES: the balancer would refuse it with a status nobody could
 * read as the cause.
 */
export async function signAssertion(config: EdgeConfig, claims: EdgeAssertionClaims): Promise<string> {
  const key = await loadSigningKey(config.signingKey);
  const assertion = await new SignJWT({ ...claims })
    .setProtectedHeader({ alg: key.alg, typ: EDGE_ASSERTION_TYPE, kid: key.kid })
    .setIssuer(config.publicUrl)
    .setAudience(config.originUrl)
    .setSubject(claims.sub)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${EDGE_ASSERTION_TTL_SECONDS}s`)
    .sign(key.key);
  if (assertion.length > MAX_EDGE_ASSERTION_BYTES) throw new AssertionTooLarge(assertion.length, claims.groups?.length ?? 0);
  return assertion;
}
