import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { UpstreamOAuthReturn } from "../../contract/upstream-oauth.ts";
import { forgetPending, keepPending, pendingOf } from "../ops/sign-in/pending-sign-ins.ts";

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

/**
 * The Set-Cookie values that keep `signIn` in the browser, in a cookie named after its state: two connection links
 * followed at once (two servers) each keep their upstream's return (s24 hunt pages F5).
 */
export const keepConsentSignIn = (request: Request, config: EdgeConfig, signIn: ConsentSignIn): Promise<string[]> =>
  keepPending(request, config, "upstream-consent", signIn, CONSENT_SIGN_IN_SECONDS);

/** The Set-Cookie value that forgets the sign-in of `state`. */
export const forgetConsentSignIn = (config: EdgeConfig, state: string): Promise<string> =>
  forgetPending(config, "upstream-consent", state);

/** The sign-in of `state` this browser started, if it carries one (and it reads as one). */
export async function consentSignInOf(
  request: Request,
  config: EdgeConfig,
  state: string | null,
): Promise<ConsentSignIn | undefined> {
  const signIn = (await pendingOf(request, config, "upstream-consent", state)) as Partial<ConsentSignIn> | undefined;
  const complete = [signIn?.state, signIn?.verifier, signIn?.returned?.state].every((field) => typeof field === "string");
  return complete ? (signIn as ConsentSignIn) : undefined;
}
