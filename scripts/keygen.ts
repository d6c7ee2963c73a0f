import { base64url, exportJWK, generateKeyPair } from "jose";
import { EDGE_ASSERTION_ALG } from "../contract/edge-assertion.ts";
import { EDGE_ASSERTION_HMAC_ALG, MIN_SHARED_KEY_BYTES } from "../contract/edge-shared-key.ts";

const newKid = () => `edge-${new Date().toISOString().slice(0, 10)}-${crypto.randomUUID().slice(0, 8)}`;

/** A new private key for signing edge assertions, as the JWK JSON that EDGE_SIGNING_KEY expects. */
export async function generateEdgeSigningKey(): Promise<string> {
  const { privateKey } = await generateKeyPair(EDGE_ASSERTION_ALG, { extractable: true });
  return JSON.stringify({ ...(await exportJWK(privateKey)), kid: newKid(), alg: EDGE_ASSERTION_ALG });
}

/** A new shared key (HS256, 256 random bits): the same JWK goes to the edge's EDGE_SIGNING_KEY and the origin's EDGE_ASSERTION_SHARED_KEYS. */
export function generateSharedEdgeKey(): string {
  const k = base64url.encode(crypto.getRandomValues(new Uint8Array(MIN_SHARED_KEY_BYTES)));
  return JSON.stringify({ kty: "oct", kid: newKid(), alg: EDGE_ASSERTION_HMAC_ALG, k });
}

// `npm run keygen`: print an EC key, ready for `wrangler secret put EDGE_SIGNING_KEY`; `npm run keygen -- --hmac`: a
// shared key, for EDGE_SIGNING_KEY and the origin's EDGE_ASSERTION_SHARED_KEYS alike (docs/edge-assertion.md).
if (import.meta.main) console.log(process.argv.includes("--hmac") ? generateSharedEdgeKey() : await generateEdgeSigningKey());
