import { escapeHtml } from "../../auth/html.ts";
import type { UserProps } from "../../env.ts";
import { OPS_PATH, OPS_SIGN_IN_OTHER_ACCOUNT_PATH, OPS_SIGN_IN_PATH, OPS_SIGN_OUT_PATH } from "../paths.ts";
import { CSRF_FIELD, type FormSource, formRefusalReason } from "../sign-in/csrf.ts";
import { opsPage } from "./layout.ts";

/**
 * No dashboard session in this browser (after a sign-out, or none at all): a session signed out here was revoked at
 * the authorization server; a new sign-in may take any account. True whether or not a sign-out just happened, since a
 * GET page cannot tell (a reload, a bookmark).
 */
export const signedOutPage = (headers: Headers): Response =>
  opsPage(
    "Ops dashboard: signed out",
    `<main><h1>You are signed out</h1><p>This browser holds no dashboard session. A session signed out here is revoked too: its token no longer opens the dashboard anywhere.</p>
<p><a href="${OPS_SIGN_IN_PATH}">Sign in</a>, or <a href="${OPS_SIGN_IN_OTHER_ACCOUNT_PATH}">sign in with another account</a>.</p></main>`,
    { headers },
  );

/** The signed-out page of a browser that still holds a valid session: who it is, and the sign-out form. */
export const stillSignedInPage = (user: UserProps, csrf: string): Response =>
  opsPage(
    "Ops dashboard: still signed in",
    `<main><h1>You are still signed in</h1><p>This browser holds a dashboard session of <strong>${escapeHtml(user.email ?? user.sub)}</strong>.</p>
<form method="post" action="${OPS_SIGN_OUT_PATH}"><input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(csrf)}"><button type="submit">Sign out</button></form>
<p>Or go back to <a href="${OPS_PATH}">the dashboard</a>.</p></main>`,
  );

/** A sign-out without the session's CSRF token (another site's form, or a page of an earlier session): it goes on. */
export const signOutRefusedPage = (source: Exclude<FormSource, "same">): Response =>
  opsPage(
    "Ops dashboard: sign-out refused",
    `<main><h1>This sign-out was refused</h1><p>${formRefusalReason(source)}, so you are still signed in. Sign out from <a href="${OPS_PATH}">the dashboard</a> itself.</p></main>`,
    { status: 403 },
  );
