import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { EdgeEnv } from "../../env.ts";
import { postedForm } from "../../http/posted-form.ts";
import { signedOutPage, signOutRefusedPage } from "../pages/signed-out.ts";
import { clearCookie } from "./cookies.ts";
import { isSameSessionForm } from "./csrf.ts";
import { opsSession, revokeOpsSession } from "./ops-caller.ts";

/**
 * POST /ops/sign-out: ends the dashboard session in this browser and at the edge's authorization server. Its grant is
 * revoked, so a copy of the cookie stops opening the dashboard too (clearing the cookie alone would leave the token
 * good until it expires). Any valid session is ended, also one that opens no page just now (groups that cannot be
 * read, an account that is not active): it could open pages again once they are back. Only a form carrying the
 * session's CSRF token ends it: another site cannot sign anyone out. A cookie that holds no valid session is just
 * cleared.
 */
export async function signOutOfOps(request: Request, config: EdgeConfig, env: EdgeEnv): Promise<Response> {
  const session = await opsSession(request, config, env);
  if (session) {
    const form = await postedForm(request);
    if (!(await isSameSessionForm(request, form, config))) return signOutRefusedPage();
    await revokeOpsSession(session, config, env);
  }
  return signedOutPage(new Headers({ "set-cookie": clearCookie(config, "session") }));
}
