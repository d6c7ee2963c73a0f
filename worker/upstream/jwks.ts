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
  if (config.signingKeyRotation) keys.push(rotationPublicKey(config.signingKeyRotation));
  return Response.json({ keys }, { headers: { "cache-control": "public, max-age=300" } });
}
