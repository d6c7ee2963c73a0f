import type { AuthorizationErrorCode } from "@cloudflare/workers-oauth-provider";
import { type ErrorDestination, errorMayRedirect } from "./error-redirect-policy.ts";
import { errorPage } from "./html.ts";

/**
 * What the page says of each refusal, in the edge's own words. Never the error's description: the library's echoes
 * the request's `response_type` or `code_challenge_method`, which whoever crafts the link chooses, and a page of the
 * company's sign-in host would show their sentence (s25 review F3).
 */
const SENTENCES: Partial<Record<AuthorizationErrorCode, string>> = {
  invalid_request: "a part a sign-in needs is missing or malformed (for example its PKCE code challenge)",
  unsupported_response_type: "it asked for a kind of answer this proxy does not give (only authorization codes)",
  unauthorized_client: "it asked for a kind of answer it is not registered for",
  invalid_target: "it asked for access to a resource it may not have here",
  invalid_scope: "it asked for permissions this proxy does not define",
};

const OTHER = "it does not follow this proxy's rules for a sign-in";

/**
 * An authorization request refused before the user saw anything: back to the client where `errorMayRedirect` lets
 * it go (`redirectTo` carries the error's description there), otherwise on a page here that names the refusal, so
 * the edge's host never forwards a browser unseen to an address anyone could register.
 */
export function refusedBeforeConsent(destination: ErrorDestination, redirectTo: string, code: AuthorizationErrorCode): Response {
  if (errorMayRedirect(destination)) return Response.redirect(redirectTo, 302);
  console.warn(`authorize: ${code} shown on a page, not sent to a redirect URI this edge cannot vouch for`);
  return errorPage(
    400,
    `This app's sign-in request was refused (${code}): ${SENTENCES[code] ?? OTHER}.`,
    "Nothing was sent to the app. Its publisher can fix the request; this page is shown instead of sending you back to an address this proxy cannot vouch for.",
  );
}
