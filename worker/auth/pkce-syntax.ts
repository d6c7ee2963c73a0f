// RFC 7636 §4.1: a verifier is 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
// RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA256(verifier)) without padding: always 43 characters.
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** Why a token request's `code_verifier` is malformed, or null when it is well-formed or absent. */
export function verifierProblem(verifier: string | null): string | null {
  if (verifier === null || VERIFIER.test(verifier)) return null;
  return "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636)";
}

/**
 * Why an authorization request's S256 `code_challenge` is missing or malformed, or null when it is well-formed. Every
 * client sends one, confidential clients too (OAuth 2.1; the MCP authorization specification requires PKCE): the library
 * demands it of public clients only.
 */
export function challengeProblem(challenge: string | undefined): string | null {
  if (challenge === undefined) return "code_challenge is required: every client uses PKCE with S256 (OAuth 2.1)";
  if (S256_CHALLENGE.test(challenge)) return null;
  return "code_challenge must be the 43-character base64url SHA-256 of the verifier (RFC 7636)";
}
