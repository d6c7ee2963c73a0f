import { OPS_PATH, OPS_SIGN_IN_PATH } from "../paths.ts";
import { opsPage } from "./layout.ts";

/** After a sign-out: the session is over here and at the authorization server; a new sign-in may take any account. */
export const signedOutPage = (headers: Headers): Response =>
  opsPage(
    "Ops dashboard: signed out",
    `<main><h1>You are signed out</h1><p>This browser's dashboard session has ended, and its token no longer opens the dashboard anywhere.</p>
<p><a href="${OPS_SIGN_IN_PATH}">Sign in</a>, with this account or another.</p></main>`,
    { headers },
  );

/** A sign-out without the session's CSRF token (another site's form): the session goes on. */
export const signOutRefusedPage = (): Response =>
  opsPage(
    "Ops dashboard: sign-out refused",
    `<main><h1>This sign-out was refused</h1><p>It did not come from this session's page (its security token is missing or wrong), so you are still signed in. Sign out from <a href="${OPS_PATH}">the dashboard</a> itself.</p></main>`,
    { status: 403 },
  );
