import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { EdgeEnv } from "../../env.ts";
import { postedForm } from "../../http/posted-form.ts";
import { signedOutPage, signOutRefusedPage, stillSignedInPage } from "../pages/signed-out.ts";
import { OPS_SIGNED_OUT_PATH } from "../paths.ts";
import { clearCookie } from "./cookies.ts";
import { csrfToken, formSource } from "./csrf.ts";
import { opsSession, revokeOpsSession } from "./ops-caller.ts";

/**
 * POST /ops/sign-out: ends the dashboard session in this browser and at the edge's authorization server. Its grant is
 * revoked, so a copy of the cookie stops opening the dashboard too (clearing the cookie alone would leave the token
 * good until it expires). Any valid session is ended, also one that opens no page just now (groups that cannot be
 * read, an account that is not active): it could open pages again once they are back. Only a form carrying the
 * session's CSRF token ends it: another site cannot sign anyone out. A cookie that holds no valid session is just
 * cleared. The answer sends the browser to a GET page (303), which a reload or Back shows again without posting.
 */
export async function signOutOfOps(request: Request, config: EdgeConfig, env: EdgeEnv): Promise<Response> {
  const session = await opsSession(request, config, env);
  if (session) {
    const source = await formSource(request, await postedForm(request), config);
    if (source !== "same") return signOutRefusedPage(source);
    await revokeOpsSession(session, config, env);
  }
  const headers = new Headers({ location: OPS_SIGNED_OUT_PATH, "cache-control": "no-store" });
  headers.append("set-cookie", clearCookie(config, "session"));
  return new Response(null, { status: 303, headers });
}

/**
 * GET /ops/signed-out (and /ops/sign-out, sent here): says the browser is signed out, unless it still holds a valid
 * session (a bookmark, a typed address, another tab's sign-in since), which it names, with its sign-out form.
 */
export async function signedOutOfOps(request: Request, config: EdgeConfig, env: EdgeEnv): Promise<Response> {
  const session = await opsSession(request, config, env);
  if (session) return stillSignedInPage(session.validated.props, await csrfToken(session.token));
  return signedOutPage(new Headers({ "set-cookie": clearCookie(config, "session") }));
}
