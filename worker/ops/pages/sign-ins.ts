import { escapeHtml } from "../../auth/html.ts";
import type { UserProps } from "../../env.ts";
import { OPS_SIGN_INS_PAGE_PATH, OPS_SIGN_INS_SIGN_OUT_PAGE_PATH } from "../paths.ts";
import { CSRF_FIELD } from "../sign-in/csrf.ts";
import { OPS_CONNECTIONS_PAGE_PATH } from "./connections-paths.ts";
import { opsHeader } from "./header.ts";
import { opsPage } from "./layout.ts";

/** The form's field: the e-mail address of the user to sign out. */
export const SIGN_OUT_EMAIL_FIELD = "email";

export interface SignInsView {
  company: string;
  user: UserProps;
  csrf: string;
  /** The sign-out just made, said once above the form. */
  notice?: string;
  /** Token cache window of each isolate (`tokenCacheSeconds`): how long another isolate may still accept a token. */
  tokenCacheSeconds: number;
}

/** Sign a user out everywhere at the edge: what it does and does not do, and its form (POST with the session's CSRF token). */
export function signInsPage(view: SignInsView): Response {
  const notice = view.notice ? `<p class="notice" role="status">${escapeHtml(view.notice)}</p>` : "";
  const body = `${opsHeader(view.company, view.user, OPS_SIGN_INS_PAGE_PATH, view.csrf)}<main><h1>Sign a user out everywhere</h1>
<p class="note">For a leaver or a lost laptop. <strong>Sign out everywhere</strong> revokes every sign-in of that e-mail
address at this edge: each MCP client's grant with its access and refresh tokens, and their dashboard sessions. Their
clients are refused at once here and, elsewhere, within ${view.tokenCacheSeconds} seconds (the edge's
<code>tokenCacheSeconds</code>); their refresh tokens are refused (<code>invalid_grant</code>). Each grant's own recorded
e-mail is checked first, so no other user's sign-in is touched. It is audited as <code>auth.user_signed_out</code>
under your e-mail, with the number of sign-ins revoked.</p>
<p class="note">What it does not do:</p>
<ul class="note">
<li>It does not revoke their <a href="${OPS_CONNECTIONS_PAGE_PATH}">upstream connections</a> (the tokens the proxy holds
for them at OAuth-protected servers): revoke those there too (<strong>Revoke all of this user's connections</strong>).</li>
<li>A 2025-era session of theirs ends at its next request, which is refused; a notification stream already open is not
cut, and carries no calls.</li>
<li>It does not stop them signing in again: the identity provider and the domain policy decide that. Disable the account
at the identity provider first.</li>
</ul>
${notice}
<form method="post" action="${OPS_SIGN_INS_SIGN_OUT_PAGE_PATH}" class="sign-out-user">
<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(view.csrf)}">
<label for="${SIGN_OUT_EMAIL_FIELD}">E-mail address of the user</label>
<input id="${SIGN_OUT_EMAIL_FIELD}" name="${SIGN_OUT_EMAIL_FIELD}" type="email" maxlength="320" required autocomplete="off">
<button type="submit">Sign out everywhere</button></form></main>`;
  return opsPage("Ops dashboard: sign a user out everywhere", body);
}
