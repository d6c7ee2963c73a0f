import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { loadSigningKey } from "./signing-key.ts";

/** The public key set the origin verifies edge assertions with (`EDGE_JWKS_PATH`). */
export async function serveEdgeJwks(env: EdgeEnv): Promise<Response> {
  const key = await loadSigningKey(edgeConfig(env).signingKey);
  return Response.json({ keys: [key.publicJwk] }, { headers: { "cache-control": "public, max-age=300" } });
}
