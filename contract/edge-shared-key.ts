import { base64url } from "jose";

/**
 * The HMAC variant of the edge assertion (docs/edge-assertion.md, "Keys"): the edge signs with HS256 under a secret
 * the origin holds too, instead of an EC key whose public half the origin fetches. Both tiers read the key with
 * this one parser, so they cannot disagree about what a valid key is.
 */
export const EDGE_ASSERTION_HMAC_ALG = "HS256";

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash; shorter keys are refused, never padded. */
export const MIN_SHARED_KEY_BYTES = 32;

/** One shared key: the `kid` assertions name it by, and its secret bytes. */
export interface SharedKey {
  kid: string;
  secret: Uint8Array<ArrayBuffer>;
}

/**
 * A shared key as a JWK, `{"kty":"oct","kid":…,"k":…}` (`npm run keygen -- --hmac` prints one). `setting` names where
 * it came from, so that the error says which setting to fix (absent where the caller names it already).
 */
export function parseSharedKey(jwk: unknown, setting?: string): SharedKey {
  const fail = failureIn(setting);
  const fields = (typeof jwk === "object" && jwk !== null ? jwk : {}) as Record<string, unknown>;
  if (fields.kty !== "oct" || typeof fields.k !== "string" || typeof fields.kid !== "string" || fields.kid === "")
    throw fail(`a shared key must be a JWK with "kty":"oct", "kid" and "k" (npm run keygen -- --hmac prints one)`);
  if (fields.alg !== undefined && fields.alg !== EDGE_ASSERTION_HMAC_ALG)
    throw fail(`key "${fields.kid}" is for ${String(fields.alg)}; edge assertions use ${EDGE_ASSERTION_HMAC_ALG}`);
  // Strict base64url (RFC 7515 §2: no padding, no other characters), so that both tiers read exactly one key from it.
  if (!/^[A-Za-z0-9_-]+$/.test(fields.k)) throw fail(`the "k" of key "${fields.kid}" is not base64url without padding`);
  const secret = new Uint8Array(base64url.decode(fields.k));
  if (secret.byteLength < MIN_SHARED_KEY_BYTES)
    throw fail(
      `key "${fields.kid}" has ${secret.byteLength * 8} bits; ${EDGE_ASSERTION_HMAC_ALG} needs at least ${MIN_SHARED_KEY_BYTES * 8}`,
    );
  return { kid: fields.kid, secret };
}

/** The keys an origin accepts: one shared-key JWK, or a set `{"keys":[…]}` (the old and the new key during a rotation). */
export function parseSharedKeySet(json: string, setting?: string): SharedKey[] {
  const fail = failureIn(setting);
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw fail("not JSON: expected a shared-key JWK or a JWK set of them (npm run keygen -- --hmac prints one)");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    // The kind of value only: a key pasted with its quotes is the secret itself.
    throw fail(
      `expected a shared-key JWK or a JWK set of them, not ${Array.isArray(parsed) ? "an array" : parsed === null ? "null" : `a ${typeof parsed}`}`,
    );
  const listed = "keys" in parsed ? parsed.keys : undefined;
  if (listed !== undefined && !Array.isArray(listed)) throw fail('"keys" must be an array of shared-key JWKs');
  const keys = listed ? listed.map((jwk) => parseSharedKey(jwk, setting)) : [parseSharedKey(parsed, setting)];
  if (keys.length === 0) throw fail("the key set is empty");
  const kids = keys.map((key) => key.kid);
  const twice = kids.find((kid, index) => kids.indexOf(kid) !== index);
  if (twice !== undefined) throw fail(`two keys have the kid "${twice}"`);
  return keys;
}

const failureIn = (setting?: string) => (problem: string) => new Error(setting ? `${setting}: ${problem}` : problem);

/** WebCrypto's name for the HS256 key (both tiers import the secret with it). */
export const HMAC_SHA256 = { name: "HMAC", hash: "SHA-256" } as const;
