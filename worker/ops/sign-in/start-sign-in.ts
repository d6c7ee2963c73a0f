import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { AUTHORIZE_PATH, edgeOAuth } from "../../auth/authorization-server.ts";
import { ADMIN_SCOPE } from "../../auth/groups/admin-scope.ts";
import { ACCOUNT_CHOICE_PROMPT } from "../../auth/idp/account-choice.ts";
import { createPkce, randomToken } from "../../auth/idp/pkce.ts";
import type { EdgeEnv } from "../../env.ts";
import { opsRedirectUri, opsResource } from "../paths.ts";
import { clearCookie } from "./cookies.ts";
import { opsClientId } from "./ops-client.ts";
import { keepPending } from "./pending-sign-ins.ts";
import { returnPathOf } from "./return-path.ts";

/** How long a sign-in may take from /ops back to /ops/callback. */
export const SIGN_IN_SECONDS = 600;

/**
 * Sends the browser to the edge's own /authorize as the dashboard's client (the same consent page and identity
 * provider as every MCP client), asking for `mcp:admin` on the dashboard's resource. The PKCE verifier and the state
 * wait in an HttpOnly cookie of this browser named after the state, so only the browser that started the sign-in can
 * finish it, and another sign-in started meanwhile (another tab) does not take its place. The page asked for (one of
 * the dashboard's own, see return-path.ts) waits there too: the sign-in returns to it.
 */
export async function startOpsSignIn(
  request: Request,
  config: EdgeConfig,
  env: EdgeEnv,
  options: { forgetSession?: boolean; returnTo?: string; chooseAccount?: boolean } = {},
): Promise<Response> {
  const oauth = edgeOAuth(config).authorizationServer.getOAuthApi(env);
  const redirectUri = opsRedirectUri(config);
  const pkce = await createPkce();
  const state = randomToken();
  const query = new URLSearchParams({
    response_type: "code",
    client_id: await opsClientId(env, oauth, redirectUri),
    redirect_uri: redirectUri,
    scope: ADMIN_SCOPE,
    state,
    code_challenge: pkce.challenge,
    code_challenge_method: "S256",
    resource: opsResource(config),
    // The sign-in page's account-choice box comes ticked: "sign in with another account" (s24 hunt pages F2).
    ...(options.chooseAccount ? { prompt: ACCOUNT_CHOICE_PROMPT } : {}),
  });
  const headers = new Headers({ location: `${config.publicUrl}${AUTHORIZE_PATH}?${query}`, "cache-control": "no-store" });
  const signIn = { state, verifier: pkce.verifier, next: returnPathOf(options.returnTo) };
  const kept = await keepPending(request, config, "sign-in", signIn, SIGN_IN_SECONDS);
  for (const cookie of kept) headers.append("set-cookie", cookie);
  // A session cookie that no longer opens the dashboard (expired, revoked, another account) goes now.
  if (options.forgetSession) headers.append("set-cookie", clearCookie(config, "session"));
  return new Response(null, { status: 302, headers });
}
