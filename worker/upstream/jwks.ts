import type { JWK } from "jose";
import { EDGE_ASSERTION_ALG } from "../../contract/edge-assertion.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { loadSigningKey } from "./signing-key.ts";

/**
 * The public key set the origin verifies edge assertions with (`EDGE_JWKS_PATH`): the signing key's, and during a
 * rotation the other key's (see `signingKeyRotation`), so that every origin knows a key before it signs anything.
 * A shared (HMAC) signing key is never published: the set is then empty, and the origin holds the key itself.
 */
export async function serveEdgeJwks(env: EdgeEnv): Promise<Response> {
  const config = edgeConfig(env);
  const { publicJwk } = await loadSigningKey(config.signingKey);
  const keys = publicJwk ? [publicJwk] : [];
  if (config.signingKeyRotation) keys.push(publicHalf(config.signingKeyRotation));
  return Response.json({ keys }, { headers: { "cache-control": "public, max-age=300" } });
}

function publicHalf(jwkJson: string): JWK {
  let jwk: JWK;
  try {
    jwk = JSON.parse(jwkJson) as JWK;
  } catch {
    throw new Error("EDGE_SIGNING_KEY_ROTATION is not JSON: expected an EC P-256 JWK with kid (npm run keygen prints one)");
  }
  if (jwk.kty === "oct")
    throw new Error(
      "EDGE_SIGNING_KEY_ROTATION publishes an EC key; a shared key is never published: list the old and the new one in the origin's EDGE_ASSERTION_SHARED_KEYS instead",
    );
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || !jwk.kid || !jwk.x || !jwk.y)
    throw new Error('EDGE_SIGNING_KEY_ROTATION must be an EC P-256 JWK with "kid"');
  const { kty, crv, x, y, kid } = jwk;
  return { kty, crv, x, y, kid, alg: EDGE_ASSERTION_ALG, use: "sig" };
}
