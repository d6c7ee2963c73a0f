import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { edgeOAuth } from "../../auth/authorization-server.ts";
import type { EdgeEnv } from "../../env.ts";
import { signedOutPage, signOutRefusedPage } from "../pages/signed-out.ts";
import { clearCookie, readCookie } from "./cookies.ts";
import { isSameSessionForm } from "./csrf.ts";
import { opsCaller } from "./ops-caller.ts";

/**
 * POST /ops/sign-out: ends the dashboard session in this browser and at the edge's authorization server. Its grant is
 * revoked, so a copy of the cookie stops opening the dashboard too (clearing the cookie alone would leave the token
 * good until it expires). A session that still opens the dashboard is ended only by a form carrying its CSRF token:
 * another site cannot sign anyone out. A cookie that opens nothing any more is just cleared.
 */
export async function signOutOfOps(request: Request, config: EdgeConfig, env: EdgeEnv): Promise<Response> {
  const session = readCookie(request, config, "session");
  if (session && (await opsCaller(request, config, env)).kind !== "signed-out") {
    const form = await request.formData().catch(() => new FormData());
    if (!(await isSameSessionForm(request, form, config))) return signOutRefusedPage();
    const oauth = edgeOAuth(config).authorizationServer.getOAuthApi(env);
    const token = await oauth.unwrapToken(session);
    if (token) await oauth.revokeGrant(token.grantId, token.userId);
  }
  return signedOutPage(new Headers({ "set-cookie": clearCookie(config, "session") }));
}
