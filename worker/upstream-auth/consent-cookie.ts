import { base64url } from "jose";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { UpstreamOAuthReturn } from "../../contract/upstream-oauth.ts";
import { readCookie, setCookie } from "../ops/sign-in/cookies.ts";

/**
 * How long the browser has from an upstream's return to the end of its sign-in at the edge. The origin keeps the
 * authorization begun for this long after the user's 10 minutes at the upstream (EDGE_SIGN_IN_MS in
 * aws/origin/upstream-auth/pending-authorizations.ts, kept equal by a test), so the return is still taken at the end.
 * The upstream's code waits through this sign-in too: an authorization server whose codes live shorter needs it quick.
 */
export const CONSENT_SIGN_IN_SECONDS = 600;

/** What waits in the browser while it signs in: the edge sign-in's state and PKCE verifier, and the upstream's return. */
export interface ConsentSignIn {
  state: string;
  verifier: string;
  returned: UpstreamOAuthReturn;
}

/** The Set-Cookie value that keeps `signIn` in the browser, or (undefined) forgets it; the edge's cookie rules. */
export function consentSignInCookie(config: EdgeConfig, signIn: ConsentSignIn | undefined): string {
  const value = signIn ? base64url.encode(JSON.stringify(signIn)) : "";
  return setCookie(config, "upstream-consent", value, signIn ? CONSENT_SIGN_IN_SECONDS : 0);
}

/** The sign-in this browser started, if it carries one (and it reads as one). */
export function consentSignInOf(request: Request, config: EdgeConfig): ConsentSignIn | undefined {
  const value = readCookie(request, config, "upstream-consent");
  if (!value) return undefined;
  try {
    const signIn = JSON.parse(new TextDecoder().decode(base64url.decode(value))) as Partial<ConsentSignIn>;
    const complete = [signIn.state, signIn.verifier, signIn.returned?.state].every((field) => typeof field === "string");
    return complete ? (signIn as ConsentSignIn) : undefined;
  } catch {
    return undefined;
  }
}
