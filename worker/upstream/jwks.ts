import type { JWK } from "jose";
import { ConfigError } from "../../contract/config/load.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { loadSigningKey, rotationPublicKey } from "./signing-key.ts";

/**
 * The public key set the origin verifies edge assertions with (`EDGE_JWKS_PATH`): the signing key's, and during a
 * rotation the other key's (see `signingKeyRotation`), so that every origin knows a key before it signs anything.
 * A shared (HMAC) signing key is never published: the set is then empty, and the origin holds the key itself.
 */
export async function serveEdgeJwks(env: EdgeEnv): Promise<Response> {
  const config = edgeConfig(env);
  const { publicJwk } = await loadSigningKey(config.signingKey);
  const keys = publicJwk ? [publicJwk] : [];
  const next = config.signingKeyRotation && publishableRotationKey(config.signingKeyRotation, publicJwk?.kid);
  if (next) keys.push(next);
  return Response.json({ keys }, { headers: { "cache-control": "public, max-age=300" } });
}

/**
 * The rotation key's public half, or none when it is unusable: the signing key's entry is published all the same, so
 * that a bad value in step 1 of a rotation (which only publishes the next key) does not take every origin's key set
 * away (s28 keys hunt F2). `/readyz` names the variable as unusable, and the log says why here.
 */
function publishableRotationKey(jwkJson: string, signingKid: string | undefined): JWK | undefined {
  try {
    return rotationPublicKey(jwkJson, signingKid);
  } catch (error) {
    const problem = error instanceof ConfigError ? error.problems.join("; ") : (error as Error).message;
    console.error(`edge key set: EDGE_SIGNING_KEY_ROTATION left out, unusable: ${problem}`);
    return undefined;
  }
}
