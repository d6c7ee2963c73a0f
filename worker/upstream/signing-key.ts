import { type CryptoKey, importJWK, type JWK } from "jose";
import { EDGE_ASSERTION_ALG } from "../../contract/edge-assertion.ts";

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** The public half, as published in the edge JWKS. */
  publicJwk: JWK;
}

const cache = new Map<string, Promise<SigningKey>>();

/**
 * Imports the edge's assertion-signing key (a private EC P-256 JWK with a `kid`), once per isolate.
 * Refuses keys of another type so that a misconfigured secret fails loudly instead of signing with something weak.
 */
export function loadSigningKey(jwkJson: string): Promise<SigningKey> {
  let key = cache.get(jwkJson);
  if (!key) {
    key = importSigningKey(jwkJson);
    cache.set(jwkJson, key);
    key.catch(() => cache.delete(jwkJson));
  }
  return key;
}

async function importSigningKey(jwkJson: string): Promise<SigningKey> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(jwkJson) as JWK;
  } catch {
    throw new Error("EDGE_SIGNING_KEY is not JSON: expected a private EC P-256 JWK (npm run keygen prints one)");
  }
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || !jwk.d || !jwk.kid) {
    throw new Error('EDGE_SIGNING_KEY must be a private EC P-256 JWK with "kid" and "d" (npm run keygen prints one)');
  }
  const privateKey = (await importJWK(jwk, EDGE_ASSERTION_ALG)) as CryptoKey;
  const { d: _private, ...publicJwk } = jwk;
  return { kid: jwk.kid, privateKey, publicJwk: { ...publicJwk, alg: EDGE_ASSERTION_ALG, use: "sig" } };
}
