import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { edgeOAuth } from "../../auth/authorization-server.ts";
import { redeemOwnCode } from "../../auth/own-browser-client.ts";
import type { EdgeEnv } from "../../env.ts";
import { signInProblemPage } from "../pages/sign-in-problem.ts";
import { opsRedirectUri } from "../paths.ts";
import { setCookie } from "./cookies.ts";
import { opsClientId } from "./ops-client.ts";
import { forgetPending, pendingOf } from "./pending-sign-ins.ts";
import { returnPathOf } from "./return-path.ts";

/**
 * GET /ops/callback: the edge's authorization server sent the browser back with a code. The state must be one this
 * browser's sign-in cookies hold (the one named after it); the code is exchanged (with the cookie's PKCE verifier) at
 * the edge's own token endpoint, the access token is kept in the session cookie for as long as it lives, and the
 * browser goes on to the page the sign-in was started for (checked again: on plain http another host can set it).
 */
export async function finishOpsSignIn(
  request: Request,
  config: EdgeConfig,
  env: EdgeEnv,
  ctx: ExecutionContext,
): Promise<Response> {
  const params = new URL(request.url).searchParams;
  const state = params.get("state") ?? "";
  const signIn = await pendingOf(request, config, "sign-in", state);
  const verifier = signIn?.verifier;
  if (typeof verifier !== "string")
    return signInProblemPage(400, "This sign-in was not started in this browser, was finished already, or took too long.");
  // The sign-in is over whatever the answer: its cookie goes with it.
  const forget = new Headers({ "set-cookie": await forgetPending(config, "sign-in", state) });
  const code = params.get("code");
  if (!code) {
    const denied = params.get("error") === "access_denied";
    return signInProblemPage(
      403,
      denied
        ? "You chose Deny: you are not signed in to the dashboard."
        : `The sign-in was not completed (${params.get("error") ?? "no code"}).`,
      forget,
    );
  }

  const server = edgeOAuth(config).authorizationServer;
  const answer = await redeemOwnCode(config, env, ctx, request, {
    code,
    redirectUri: opsRedirectUri(config),
    clientId: await opsClientId(env, server.getOAuthApi(env), opsRedirectUri(config)),
    verifier,
  });
  if (!answer.ok) {
    console.warn(`ops sign-in: the token endpoint answered ${answer.status}`);
    return signInProblemPage(400, "The sign-in could not be completed: its code was refused.", forget);
  }
  const tokens = (await answer.json()) as { access_token: string; expires_in: number };
  const headers = new Headers(forget);
  headers.set("location", `${config.publicUrl}${returnPathOf(signIn?.next)}`);
  headers.set("cache-control", "no-store");
  headers.append("set-cookie", setCookie(config, "session", tokens.access_token, tokens.expires_in));
  return new Response(null, { status: 303, headers });
}
