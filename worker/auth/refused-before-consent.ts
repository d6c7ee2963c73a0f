import { type ErrorDestination, errorMayRedirect } from "./error-redirect-policy.ts";
import { errorPage } from "./html.ts";

/**
 * An authorization request refused before the user saw anything: back to the client where `errorMayRedirect` lets
 * it go, otherwise on a page here that names the refusal, so the edge's host never forwards a browser unseen to an
 * address anyone could register.
 */
export function refusedBeforeConsent(
  destination: ErrorDestination,
  redirectTo: string,
  code: string,
  description: string,
): Response {
  if (errorMayRedirect(destination)) return Response.redirect(redirectTo, 302);
  console.warn(`authorize: ${code} shown on a page, not sent to a redirect URI this edge cannot vouch for`);
  return errorPage(
    400,
    `This app's sign-in request was refused (${code}): ${description}.`,
    "Nothing was sent to the app. Its publisher can fix the request; this page is shown instead of sending you back to an address this proxy cannot vouch for.",
  );
}
