import { AuthorizationError, CimdFetchError, type OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { edgeOAuth } from "./authorization-server.ts";
import { consentPage } from "./consent-page.ts";
import { errorPage } from "./html.ts";
import { idpAuthorizationUrl } from "./idp/authorization-url.ts";
import { discoverProvider } from "./idp/discovery.ts";
import { createPkce, randomToken } from "./idp/pkce.ts";

/** What the edge keeps server-side between the redirect to the IdP and its callback. */
export interface PendingSignIn {
  verifier: string;
  nonce: string;
}

/** GET /authorize: validate the client's request, then ask the user to consent before anything leaves for the IdP. */
export async function showConsent(request: Request, env: EdgeEnv): Promise<Response> {
  return renderingAuthErrors(async (oauth) => {
    const authRequest = await oauth.parseAuthRequest(request);
    const details = await oauth.describeConsent(authRequest); // first: a failed lookup leaves nothing in KV
    const consent = await oauth.beginConsent(authRequest);
    return consentPage(details, consent.handle, consent.headers);
  }, env);
}

/** POST /authorize: the user decided. Deny goes back to the client; Allow goes to the IdP with a state bound to this browser. */
export async function decideConsent(request: Request, env: EdgeEnv): Promise<Response> {
  return renderingAuthErrors(async (oauth) => {
    const form = await request.formData();
    const handle = String(form.get("handle") ?? "");
    if (form.get("decision") !== "approve") {
      const denied = await oauth.denyConsent(request, handle);
      return new Response(null, { status: 302, headers: denied.headers });
    }
    const approved = await oauth.approveConsent(request, handle);
    const config = edgeConfig(env);
    const provider = await discoverProvider(config.idp.issuer);
    const pkce = await createPkce();
    const pending: PendingSignIn = { verifier: pkce.verifier, nonce: randomToken() };
    const { state, headers } = await oauth.beginUpstream(approved.request, { data: pending, headers: approved.headers });
    headers.set(
      "location",
      idpAuthorizationUrl(config, provider, { state, nonce: pending.nonce, codeChallenge: pkce.challenge }),
    );
    return new Response(null, { status: 302, headers });
  }, env);
}

/**
 * Runs an authorization step and turns the library's validation errors into what the user should see:
 * a redirect to the client only when the library vouched for the redirect URI, a local page otherwise.
 */
export async function renderingAuthErrors(step: (oauth: OAuthHelpers) => Promise<Response>, env: EdgeEnv): Promise<Response> {
  try {
    return await step(edgeOAuth(edgeConfig(env)).authorizationServer.getOAuthApi(env));
  } catch (error) {
    if (error instanceof AuthorizationError && error.redirectTo) return Response.redirect(error.redirectTo, 302);
    if (error instanceof AuthorizationError) return errorPage(400, error.description);
    if (error instanceof CimdFetchError)
      return errorPage(400, "This app could not be verified: its metadata document could not be fetched.");
    throw error;
  }
}
