import { base64url } from "jose";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import { HMAC_SHA256 } from "../../contract/edge-shared-key.ts";

/** Hex characters kept of the HMAC: 64 bits, enough to tell a company's users apart, too few to be a token. */
export const USER_HASH_CHARS = 16;

const MAX_CACHED_USERS = 1024;
const MAX_KEYS = 4;
const encoder = new TextEncoder();
// Binds the derived key to this use, so that it is not the signing key, nor any other key derived from it.
const DERIVATION_INFO = encoder.encode("mcp-edge-proxy analytics user id v1");

interface Hasher {
  key: Promise<CryptoKey>;
  /** sub → hash, the oldest dropped first: most requests come from users seen a moment ago. */
  hashes: Map<string, string>;
}

// Per isolate, per key material: importing or deriving a key costs more than the HMAC itself.
const hashers = new Map<string, Hasher>();

/**
 * The pseudonymous user id analytics records instead of the user: HMAC-SHA-256 of the sub, cut to 16 hex characters.
 * Stable for one user under one key; not reversible without the key. `ANALYTICS_HASH_SECRET` never leaves the edge; a
 * key derived from a shared signing key is known to the origin too (docs/analytics.md).
 */
export async function hashUserId(config: EdgeConfig, sub: string): Promise<string> {
  const hasher = hasherFor(config);
  const known = hasher.hashes.get(sub);
  if (known !== undefined) return known;
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await hasher.key, encoder.encode(sub)));
  const hash = Array.from(mac.subarray(0, USER_HASH_CHARS / 2), (byte) => byte.toString(16).padStart(2, "0")).join("");
  if (hasher.hashes.size >= MAX_CACHED_USERS) hasher.hashes.delete(hasher.hashes.keys().next().value as string);
  hasher.hashes.set(sub, hash);
  return hash;
}

function hasherFor(config: EdgeConfig): Hasher {
  const source = config.analyticsHashSecret ?? config.signingKey;
  let hasher = hashers.get(source);
  if (!hasher) {
    if (hashers.size >= MAX_KEYS) hashers.clear();
    hasher = { key: hmacKey(config), hashes: new Map() };
    hashers.set(source, hasher);
    hasher.key.catch(() => hashers.delete(source));
  }
  return hasher;
}

/**
 * The `analyticsHashSecret` if set; otherwise a key derived (HKDF) from the signing key's private part, so that a
 * deployment without the secret still records no raw user id. That key changes when the signing key is rotated.
 */
async function hmacKey(config: EdgeConfig): Promise<CryptoKey> {
  if (config.analyticsHashSecret)
    return crypto.subtle.importKey("raw", encoder.encode(config.analyticsHashSecret), HMAC_SHA256, false, ["sign"]);
  // The private part: `d` of an EC key, `k` of a shared key.
  const { d, k } = JSON.parse(config.signingKey) as { d?: unknown; k?: unknown };
  const secret = d ?? k;
  if (typeof secret !== "string" || secret === "")
    throw new Error("the edge signing key has no private part to derive a hash key from");
  const material = await crypto.subtle.importKey("raw", base64url.decode(secret), "HKDF", false, ["deriveKey"]);
  const derivation = { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: DERIVATION_INFO };
  return crypto.subtle.deriveKey(derivation, material, { ...HMAC_SHA256, length: 256 }, false, ["sign"]);
}
