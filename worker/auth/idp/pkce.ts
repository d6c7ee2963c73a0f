import { base64url } from "jose";

/** A PKCE verifier (RFC 7636: 43+ unreserved characters) and its S256 challenge, for the edge's own request to the IdP. */
export async function createPkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url.encode(new Uint8Array(digest)) };
}

export const randomToken = (): string => base64url.encode(crypto.getRandomValues(new Uint8Array(24)));
