import type { OAuthResourceTokenValidation, OAuthResourceTokenValidator } from "@cloudflare/workers-oauth-provider";

/** Enough for every active user of a large company in one isolate; the oldest entry makes room for a new one. */
const MAX_ENTRIES = 5000;

interface Entry {
  validation: OAuthResourceTokenValidation<unknown>;
  /** Epoch milliseconds after which the entry is not used: the cache window, never past the token's own expiry. */
  until: number;
}

// Per isolate: what one isolate validated is reused by its later requests only. Keys are SHA-256 of the resource
// and the token, so no bearer token is kept in memory longer than its request.
const validated = new Map<string, Entry>();
/** Counts the isolate's revocations: a validation that began before one is not remembered after it. */
let revocations = 0;

/**
 * Wraps a token validator so that a token validated for a resource is not looked up again (a KV read, hashing, a
 * key unwrap and a decryption) for `seconds`. The price is the revocation window: a token revoked in another
 * isolate keeps working in this one for at most `seconds`; a revocation handled by this isolate takes effect at
 * once (`forgetValidatedTokens`). Refusals are not remembered: a token that fails is looked up again next time.
 * `seconds` 0 turns the cache off.
 */
export function cacheValidations<Props>(
  validate: OAuthResourceTokenValidator<Props>,
  seconds: number,
  now: () => number = Date.now,
): OAuthResourceTokenValidator<Props> {
  if (seconds <= 0) return validate;
  return async (resource, token) => {
    const key = await keyOf(resource, token);
    const hit = validated.get(key);
    if (hit && hit.until > now()) return hit.validation as OAuthResourceTokenValidation<Props>;
    if (hit) validated.delete(key);
    const before = revocations;
    const validation = await validate(resource, token);
    // A look-up that read the grant before this isolate revoked it must not bring it back for the window.
    if (validation && revocations === before) remember(key, validation, now() + seconds * 1000);
    return validation;
  };
}

/** Drops every remembered validation: called when this isolate revokes a token or a grant. */
export function forgetValidatedTokens(): void {
  revocations += 1;
  validated.clear();
}

function remember(key: string, validation: OAuthResourceTokenValidation<unknown>, windowEnd: number): void {
  const expiry = validation.expiresAt === undefined ? windowEnd : validation.expiresAt * 1000;
  if (validated.size >= MAX_ENTRIES) {
    const oldest = validated.keys().next();
    if (!oldest.done) validated.delete(oldest.value);
  }
  validated.set(key, { validation, until: Math.min(windowEnd, expiry) });
}

const encoder = new TextEncoder();

// WebCrypto's digest: measured in workerd at about 9 µs a key, awaited and encoded, against 11–15 µs for node:crypto's
// createHash, whose compatibility layer is JavaScript. This runs on every MCP request.
async function keyOf(resource: string, token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`${resource}\n${token}`));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}
