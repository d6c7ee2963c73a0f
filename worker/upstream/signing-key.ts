import { type CryptoKey, importJWK, type JWK } from "jose";
import { ConfigError } from "../../contract/config/load.ts";
import { EDGE_ASSERTION_ALG } from "../../contract/edge-assertion.ts";
import { EDGE_ASSERTION_HMAC_ALG, HMAC_SHA256, parseSharedKey } from "../../contract/edge-shared-key.ts";

export interface SigningKey {
  kid: string;
  /** ES256 for an EC P-256 key, HS256 for a key shared with the origin. */
  alg: typeof EDGE_ASSERTION_ALG | typeof EDGE_ASSERTION_HMAC_ALG;
  /** The private EC key or the shared secret. */
  key: CryptoKey;
  /** The public half, as published in the edge JWKS. A shared key has none: it is never published. */
  publicJwk?: JWK;
}

const cache = new Map<string, Promise<SigningKey>>();

/**
 * Imports the edge's assertion-signing key once per isolate: a private EC P-256 JWK with a `kid` (ES256, the origin
 * fetches its public half), or a shared key `{"kty":"oct",…}` of at least 256 bits (HS256, the origin holds it too).
 * Refuses anything else so that a misconfigured secret fails loudly instead of signing with something weak.
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
    throw misconfigured(
      "EDGE_SIGNING_KEY is not JSON: expected a private EC P-256 JWK or a shared key (npm run keygen prints one)",
    );
  }
  if (jwk.kty === "oct") {
    const { kid, secret } = sharedKeyOf(jwk);
    const key = await crypto.subtle.importKey("raw", secret, HMAC_SHA256, false, ["sign"]);
    return { kid, alg: EDGE_ASSERTION_HMAC_ALG, key };
  }
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || !jwk.d || !jwk.kid) {
    throw misconfigured(
      'EDGE_SIGNING_KEY must be a private EC P-256 JWK with "kid" and "d", or a shared key with "kty":"oct" (npm run keygen prints one)',
    );
  }
  const key = (await importJWK(jwk, EDGE_ASSERTION_ALG)) as CryptoKey;
  const { d: _private, ...publicJwk } = jwk;
  return { kid: jwk.kid, alg: EDGE_ASSERTION_ALG, key, publicJwk: { ...publicJwk, alg: EDGE_ASSERTION_ALG, use: "sig" } };
}

/** A key setting that cannot be used: the Worker's error handler logs what is wrong and answers that it is misconfigured. */
const misconfigured = (problem: string) => new ConfigError([problem]);

function sharedKeyOf(jwk: JWK): ReturnType<typeof parseSharedKey> {
  try {
    return parseSharedKey(jwk, "EDGE_SIGNING_KEY");
  } catch (error) {
    throw misconfigured((error as Error).message);
  }
}

/**
 * The public half of `signingKeyRotation`, the EC key published beside the signing key during a rotation. Throws,
 * naming the variable, for anything else: a shared key is never published, and a key under the signing key's `kid`
 * would make every origin refuse every assertion (two keys for one `kid`: s28 review R3).
 */
export function rotationPublicKey(jwkJson: string, signingKid: string | undefined): JWK {
  let jwk: JWK;
  try {
    jwk = JSON.parse(jwkJson) as JWK;
  } catch {
    throw misconfigured("EDGE_SIGNING_KEY_ROTATION is not JSON: expected an EC P-256 JWK with kid (npm run keygen prints one)");
  }
  if (jwk.kty === "oct")
    throw misconfigured(
      "EDGE_SIGNING_KEY_ROTATION publishes an EC key; a shared key is never published: list the old and the new one in the origin's EDGE_ASSERTION_SHARED_KEYS instead",
    );
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || !jwk.kid || !jwk.x || !jwk.y)
    throw misconfigured('EDGE_SIGNING_KEY_ROTATION must be an EC P-256 JWK with "kid"');
  if (jwk.kid === signingKid)
    throw misconfigured(
      `EDGE_SIGNING_KEY_ROTATION has the signing key's kid "${jwk.kid}": the other key of a rotation needs a kid of its own (npm run keygen makes one)`,
    );
  const { kty, crv, x, y, kid } = jwk;
  return { kty, crv, x, y, kid, alg: EDGE_ASSERTION_ALG, use: "sig" };
}
