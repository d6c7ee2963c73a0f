import { SignJWT } from "jose";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import { EDGE_ASSERTION_TTL_SECONDS, EDGE_ASSERTION_TYPE, type EdgeAssertionClaims } from "../../contract/edge-assertion.ts";
import { loadSigningKey } from "./signing-key.ts";

/** Signs a fresh single-use assertion for one request to the origin: who asks, through which client, for which server. */
export async function signAssertion(config: EdgeConfig, claims: EdgeAssertionClaims): Promise<string> {
  const key = await loadSigningKey(config.signingKey);
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: key.alg, typ: EDGE_ASSERTION_TYPE, kid: key.kid })
    .setIssuer(config.publicUrl)
    .setAudience(config.originUrl)
    .setSubject(claims.sub)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${EDGE_ASSERTION_TTL_SECONDS}s`)
    .sign(key.key);
}
