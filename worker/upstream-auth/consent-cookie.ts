import type { Context } from "hono";
import { generateCookie, getCookie } from "hono/cookie";
import { base64url } from "jose";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { UpstreamOAuthReturn } from "../../contract/upstream-oauth.ts";

/** How long the browser has from an upstream's return to the end of its sign-in at the edge. */
export const CONSENT_SIGN_IN_SECONDS = 600;

/** What waits in the browser while it signs in: the edge sign-in's state and PKCE verifier, and the upstream's return. */
export interface ConsentSignIn {
  state: string;
  verifier: string;
  returned: UpstreamOAuthReturn;
}

const NAME = "mcp-upstream-consent";

// `__Host-` pins the cookie to this host, https and Path=/. A browser refuses Secure cookies from plain http, so on the
// loopback http of `npm start` it goes without both (nothing else can listen on that address anyway).
const prefixOf = (config: EdgeConfig) => (config.publicUrl.startsWith("https:") ? ("host" as const) : undefined);

/** The Set-Cookie value: HttpOnly (no script reads it), SameSite=Lax (sent on the top-level return from the sign-in). */
export function consentSignInCookie(config: EdgeConfig, signIn: ConsentSignIn | undefined): string {
  const prefix = prefixOf(config);
  const value = signIn ? base64url.encode(JSON.stringify(signIn)) : "";
  const maxAge = signIn ? CONSENT_SIGN_IN_SECONDS : 0;
  return generateCookie(NAME, value, {
    path: "/",
    httpOnly: true,
    sameSite: "Lax",
    maxAge,
    secure: prefix !== undefined,
    prefix,
  });
}

/** The sign-in this browser started, if it carries one (and it reads as one). */
export function consentSignInOf(c: Context, config: EdgeConfig): ConsentSignIn | undefined {
  const value = getCookie(c, NAME, prefixOf(config));
  if (!value) return undefined;
  try {
    const signIn = JSON.parse(new TextDecoder().decode(base64url.decode(value))) as Partial<ConsentSignIn>;
    const complete = [signIn.state, signIn.verifier, signIn.returned?.state].every((field) => typeof field === "string");
    return complete ? (signIn as ConsentSignIn) : undefined;
  } catch {
    return undefined;
  }
}
