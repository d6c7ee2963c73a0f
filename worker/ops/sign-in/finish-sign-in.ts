import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { edgeOAuth } from "../../auth/authorization-server.ts";
import { redeemOwnCode } from "../../auth/own-browser-client.ts";
import type { EdgeEnv } from "../../env.ts";
import { signInProblemPage } from "../pages/sign-in-problem.ts";
import { OPS_PATH, opsRedirectUri } from "../paths.ts";
import { clearCookie, readCookie, setCookie } from "./cookies.ts";
import { opsClientId } from "./ops-client.ts";

/**
 * GET /ops/callback: the edge's authorization server sent the browser back with a code. The state must be the one
 * this browser's sign-in cookie holds; the code is exchanged (with the cookie's PKCE verifier) at the edge's own token
 * endpoint, and the access token is kept in the session cookie for as long as it lives.
 */
export async function finishOpsSignIn(
  request: Request,
  config: EdgeConfig,
  env: EdgeEnv,
  ctx: ExecutionContext,
): Promise<Response> {
  const params = new URL(request.url).searchParams;
  const [expectedState, verifier] = (readCookie(request, config, "sign-in") ?? "").split(".");
  if (!expectedState || !verifier)
    return signInProblemPage(400, "This sign-in was not started in this browser, or took too long.");
  if (params.get("state") !== expectedState) return signInProblemPage(400, "This sign-in does not belong to this browser.");
  const code = params.get("code");
  if (!code) {
    const denied = params.get("error") === "access_denied";
    return signInProblemPage(
      403,
      denied
        ? "You chose Deny: you are not signed in to the dashboard."
        : `The sign-in was not completed (${params.get("error") ?? "no code"}).`,
    );
  }

  const server = edgeOAuth(config).authorizationServer;
  const answer = await redeemOwnCode(config, env, ctx, {
    code,
    redirectUri: opsRedirectUri(config),
    clientId: await opsClientId(env, server.getOAuthApi(env), opsRedirectUri(config)),
    verifier,
  });
  if (!answer.ok) {
    console.warn(`ops sign-in: the token endpoint answered ${answer.status}`);
    return signInProblemPage(400, "The sign-in could not be completed: its code was refused.");
  }
  const tokens = (await answer.json()) as { access_token: string; expires_in: number };
  const headers = new Headers({ location: `${config.publicUrl}${OPS_PATH}`, "cache-control": "no-store" });
  headers.append("set-cookie", setCookie(config, "session", tokens.access_token, tokens.expires_in));
  headers.append("set-cookie", clearCookie(config, "sign-in"));
  return new Response(null, { status: 303, headers });
}
