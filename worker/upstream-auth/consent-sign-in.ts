import type { Context } from "hono";
import type { UpstreamOAuthReturn } from "../../contract/upstream-oauth.ts";
import { AUTHORIZE_PATH, edgeOAuth } from "../auth/authorization-server.ts";
import { MCP_SCOPE } from "../auth/grantable-scopes.ts";
import { createPkce, randomToken } from "../auth/idp/pkce.ts";
import { redeemOwnCode } from "../auth/own-browser-client.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv, UserProps } from "../env.ts";
import { opsResource } from "../ops/paths.ts";
import { consentClientId, consentRedirectUri } from "./consent-client.ts";
import { consentSignInOf, forgetConsentSignIn, keepConsentSignIn } from "./consent-cookie.ts";

type EdgeContext = Context<{ Bindings: EdgeEnv }>;

/**
 * The browser's sign-in is over: who it is and what the upstream returned, or why it cannot go on; with the Set-Cookie
 * value that forgets it in this browser, once one was found.
 */
export type ConsentSignInResult = SignedIn | { status: 400 | 403 | 502; problem: string; forget?: string };

/** Who signed in, for the upstream's return. */
export interface SignedIn {
  user: UserProps;
  clientId: string;
  returned: UpstreamOAuthReturn;
  forget: string;
}

/**
 * The browser came back from an upstream's consent: before the origin may store anything, it signs in at the edge's
 * own /authorize (the consent page and identity provider every MCP client uses), so the origin can check that the
 * user who signed in is the user the link was made for. The upstream's return waits in an HttpOnly cookie of this
 * browser with the sign-in's state and PKCE verifier, so only this browser can finish; the cookie is named after the
 * state, so another connection finished meanwhile in this browser does not take its place.
 */
export async function startConsentSignIn(c: EdgeContext, returned: UpstreamOAuthReturn): Promise<Response> {
  const config = edgeConfig(c.env);
  const redirectUri = consentRedirectUri(config);
  const pkce = await createPkce();
  const state = randomToken();
  const query = new URLSearchParams({
    response_type: "code",
    client_id: await consentClientId(c.env, edgeOAuth(config).authorizationServer.getOAuthApi(c.env), redirectUri),
    redirect_uri: redirectUri,
    scope: MCP_SCOPE,
    state,
    code_challenge: pkce.challenge,
    code_challenge_method: "S256",
    // The dashboard's resource opens no MCP server; the token is read for who signed in, then revoked.
    resource: opsResource(config),
  });
  const headers = new Headers({ location: `${config.publicUrl}${AUTHORIZE_PATH}?${query}`, "cache-control": "no-store" });
  const kept = await keepConsentSignIn(c.req.raw, config, { state, verifier: pkce.verifier, returned });
  for (const cookie of kept) headers.append("set-cookie", cookie);
  return new Response(null, { status: 302, headers });
}

/**
 * GET /upstream-oauth/signed-in: the state must be one this browser's cookies hold (the one named after it); the code is exchanged (with
 * the cookie's PKCE verifier) at the edge's own token endpoint, the token read for the user, and its grant revoked at
 * once: it was needed for this one question, and no session stays behind.
 */
export async function finishConsentSignIn(c: EdgeContext): Promise<ConsentSignInResult> {
  const config = edgeConfig(c.env);
  const params = new URL(c.req.url).searchParams;
  const signIn = await consentSignInOf(c.req.raw, config, params.get("state"));
  if (!signIn) {
    return {
      status: 400,
      problem:
        "This sign-in was not started in this browser, took too long, or is over already. If you just connected your account, you are done: go back to your MCP client. Otherwise call the tool again for a new link.",
    };
  }
  const forget = await forgetConsentSignIn(config, signIn.state);
  const code = params.get("code");
  if (!code) {
    const why = params.get("error") ?? "no code";
    return {
      status: 403,
      problem: `You did not sign in (${why}), so no account was connected. Call the tool again to retry.`,
      forget,
    };
  }
  const server = edgeOAuth(config).authorizationServer;
  const oauth = server.getOAuthApi(c.env);
  const clientId = await consentClientId(c.env, oauth, consentRedirectUri(config));
  const answer = await redeemOwnCode(config, c.env, c.executionCtx as ExecutionContext, c.req.raw, {
    code,
    redirectUri: consentRedirectUri(config),
    clientId,
    verifier: signIn.verifier,
  });
  const token = answer.ok
    ? await oauth.unwrapToken<UserProps>(((await answer.json()) as { access_token: string }).access_token)
    : null;
  if (!token) {
    console.warn(`upstream consent sign-in: the token endpoint answered ${answer.status}`);
    return { status: 502, problem: "Your sign-in could not be completed: its code was refused. Call the tool again.", forget };
  }
  await oauth.revokeGrant(token.grantId, token.userId);
  return { user: token.grant.props, clientId, returned: signIn.returned, forget };
}
