import { exportJWK, generateKeyPair } from "jose";
import { EDGE_ASSERTION_ALG } from "../contract/edge-assertion.ts";

/** A new private key for signing edge assertions, as the JWK JSON that EDGE_SIGNING_KEY expects. */
export async function generateEdgeSigningKey(): Promise<string> {
  const { privateKey } = await generateKeyPair(EDGE_ASSERTION_ALG, { extractable: true });
  const kid = `edge-${new Date().toISOString().slice(0, 10)}-${crypto.randomUUID().slice(0, 8)}`;
  return JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: EDGE_ASSERTION_ALG });
}

// `npm run keygen`: print one, ready for `wrangler secret put EDGE_SIGNING_KEY`.
if (import.meta.main) console.log(await generateEdgeSigningKey());
