import {
  AuthorizationError,
  type AuthorizationErrorCode,
  type AuthRequest,
  authorizationErrorRedirect,
  CimdFetchError,
  type OAuthHelpers,
} from "@cloudflare/workers-oauth-provider";
import { allowedTooSoon, SHOWN_FIELD } from "../../contract/consent-arming.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { postedForm } from "../http/posted-form.ts";
import { AUTHORIZE_PATH, edgeOAuth, REGISTER_PATH } from "./authorization-server.ts";
import { cimdFetchFailurePage } from "./cimd/fetch-failure-page.ts";
import { metadataUrlProblem } from "./cimd/metadata-url-problem.ts";
import { companyName, companyWords, consentPage, grantedServers } from "./consent-page.ts";
import { grantableScopes } from "./grantable-scopes.ts";
import { errorPage, START_AGAIN } from "./html.ts";
import { CHOOSE_ACCOUNT_FIELD, clientAskedForAccountChoice } from "./idp/account-choice.ts";
import { idpAuthorizationUrl } from "./idp/authorization-url.ts";
import { discoverProvider } from "./idp/discovery.ts";
import { createPkce, randomToken } from "./idp/pkce.ts";
import { tooLongToLookUp } from "./key-bounds.ts";
import { opsResourceRefused } from "./ops-resource-clients.ts";
import { ownClientOf } from "./own-clients.ts";
import { challengeProblem } from "./pkce-syntax.ts";
import { rateLimited } from "./rate-limit.ts";
import { withLimitedBody } from "./read-limited-body.ts";
import { refusedBeforeConsent } from "./refused-before-consent.ts";
import { clientNameProblem, ownNameProblem, redirectUriProblem } from "./registration-policy.ts";
import { CLEAR_SAVED_SIGN_IN, unknownClient } from "./unknown-client.ts";

/** What the edge keeps server-side between the redirect to the IdP and its callback. */
export interface PendingSignIn {
  verifier: string;
  nonce: string;
}

/** GET /authorize: validate the client's request, then ask the user to consent before anything leaves for the IdP. */
export async function showConsent(request: Request, env: EdgeEnv): Promise<Response> {
  const config = edgeConfig(env);
  const limited = await rateLimited(request, env, config, AUTHORIZE_PATH);
  if (limited) return limited;
  const clientId = new URL(request.url).searchParams.get("client_id");
  const unsafeMetadataUrl = clientId && metadataUrlProblem(clientId, config.oauth.cimdAllowedHosts);
  if (unsafeMetadataUrl) {
    console.warn(`client-id-metadata-document: refused at /authorize (${unsafeMetadataUrl})`);
    return errorPage(
      400,
      `This app cannot be signed in: ${unsafeMetadataUrl}.`,
      "Starting again will not help: this proxy never fetches a client ID at such an address. Tell the app's publisher; for an app in development on your computer or network, whoever runs this proxy can allow its host (oauth.cimdAllowedHosts, https only).",
    );
  }
  return renderingAuthErrors(async (oauth) => {
    const client = clientId && !tooLongToLookUp(clientId) ? await oauth.lookupClient(clientId) : null;
    if (clientId && !client) return unknownClient(request, `${config.publicUrl}${REGISTER_PATH}`);
    const authRequest = await parsedOrRefused(oauth, request, client?.clientName);
    if (authRequest instanceof Response) return authRequest;
    const refuse = (code: AuthorizationErrorCode, description: string) =>
      refusedBeforeConsent(
        { clientId: authRequest.clientId, clientName: client?.clientName, redirectUri: authRequest.redirectUri },
        authorizationErrorRedirect(authRequest, code, description),
        code,
      );
    const malformedChallenge = challengeProblem(authRequest.codeChallenge);
    if (malformedChallenge) {
      console.warn("authorize: code_challenge missing or malformed");
      return refuse("invalid_request", malformedChallenge);
    }
    // Read once (two KV reads): the resource rule and the page's choice both need it.
    const own = await ownClientOf(env, config, authRequest.clientId);
    if (opsResourceRefused(config, authRequest, own)) {
      console.warn("authorize: a client other than the edge's own asked for the ops dashboard's resource");
      return refuse("invalid_target", "only this proxy's own dashboard sign-in may ask for the ops dashboard's resource");
    }
    // Only scopes this edge defines are asked for on the consent page, stored, and granted.
    authRequest.scope = grantableScopes(authRequest.scope);
    const details = await oauth.describeConsent(authRequest); // first: a failed lookup leaves nothing in KV
    const badName = clientNameProblem(details.clientName) ?? (own ? null : ownNameProblem(details.clientName));
    if (badName) {
      console.warn(`authorize: refused a client whose ${badName}`);
      return errorPage(
        400,
        `This app cannot be signed in: its ${badName}.`,
        "Tell the app's publisher; nothing was sent anywhere.",
      );
    }
    // A metadata document's redirect URIs were never through /register's rules (a browser-launching scheme the consent
    // page would call an app of this computer, an address into /ops): the URI this request uses is held to them here.
    // The page names no part of the URI: whoever crafts the link chooses it (s25 review F3).
    if (!own && redirectUriProblem(authRequest.redirectUri, new URL(request.url).origin)) {
      console.warn("authorize: refused a redirect URI that registration would have refused");
      return errorPage(
        400,
        "This app cannot be signed in: the address it asked to come back to (its redirect URI) is not one this proxy sends a sign-in to (a web browser's own scheme, plain HTTP to another computer, or this proxy's dashboard).",
        "Tell the app's publisher; nothing was sent anywhere.",
      );
    }
    const consent = await oauth.beginConsent(authRequest);
    return consentPage({
      details,
      handle: consent.handle,
      headers: consent.headers,
      company: companyName(config),
      owner: companyWords(config),
      servers: grantedServers(config, authRequest.resource),
      chooseAccount: clientAskedForAccountChoice(new URL(request.url).searchParams.get("prompt")),
      own,
    });
  }, env);
}

/** The library's parse of an authorization request, or its refusal when it found one before the consent page. */
async function parsedOrRefused(
  oauth: OAuthHelpers,
  request: Request,
  clientName: string | undefined,
): Promise<AuthRequest | Response> {
  try {
    return await oauth.parseAuthRequest(request);
  } catch (error) {
    if (!(error instanceof AuthorizationError && error.redirectTo && error.redirectUri)) throw error;
    const clientId = new URL(request.url).searchParams.get("client_id") ?? "";
    const destination = { clientId, clientName, redirectUri: error.redirectUri };
    return refusedBeforeConsent(destination, error.redirectTo, error.code);
  }
}

/** POST /authorize: the user decided. Deny goes back to the client; Allow goes to the IdP with a state bound to this browser. */
export async function decideConsent(request: Request, env: EdgeEnv): Promise<Response> {
  const config = edgeConfig(env);
  const limited = await rateLimited(request, env, config, AUTHORIZE_PATH);
  if (limited) return limited;
  const buffered = await withLimitedBody(request, config.oauth.maxBodyBytes);
  if (!buffered) {
    console.warn("authorize: consent form over the size limit");
    return errorPage(413, "The consent form was too large.", START_AGAIN);
  }
  return renderingAuthErrors(async (oauth) => {
    const form = await postedForm(buffered);
    const handle = String(form.get("handle") ?? "");
    if (!handle) return errorPage(400, "The consent form could not be read: go back to the app and sign in again.");
    if (form.get("decision") !== "approve") {
      const denied = await oauth.denyConsent(buffered, handle);
      return new Response(null, { status: 302, headers: denied.headers });
    }
    if (allowedTooSoon(form.get(SHOWN_FIELD) as string | null)) {
      console.warn("authorize: Allow came sooner after the consent page than a person reads it; refused");
      return errorPage(
        400,
        "Allow was clicked as the page appeared, too soon to have been meant for it (a click meant for another page?): nothing was allowed.",
        "Go back, read the page, and choose again if you started this sign-in.",
      );
    }
    // The identity provider is looked up before the approval is taken: unreachable, the consent is still there to retry.
    const provider = await discoverProvider(config.idp.issuer, config.idp.requestTimeoutSeconds * 1000).catch(
      (error: unknown) => error as Error,
    );
    if (provider instanceof Error) {
      console.warn(`authorize: the identity provider could not be reached: ${provider.message}`);
      return errorPage(
        502,
        "The identity provider could not be reached just now, so you cannot sign in yet; nothing was allowed.",
        "Go back and choose Allow again in a minute. If it keeps failing, tell your administrator (the proxy's log says why).",
      );
    }
    const approved = await oauth.approveConsent(buffered, handle);
    const pkce = await createPkce();
    const pending: PendingSignIn = { verifier: pkce.verifier, nonce: randomToken() };
    const { state, headers } = await oauth.beginUpstream(approved.request, { data: pending, headers: approved.headers });
    headers.set(
      "location",
      idpAuthorizationUrl(config, provider, {
        state,
        nonce: pending.nonce,
        codeChallenge: pkce.challenge,
        chooseAccount: form.get(CHOOSE_ACCOUNT_FIELD) === "1",
      }),
    );
    return new Response(null, { status: 302, headers });
  }, env);
}

/**
 * The library's words said as what can have happened, with the step that helps (s24 hunt pages F7). It clears a
 * consent transaction's cookie when it is used, so a second Allow, a page left open past 10 minutes and a form from
 * another browser all read "not started in this browser". A redirect URI the client is not registered with is, from
 * a real app, a stale registration (the app's callback changed): starting again repeats it until the app registers anew.
 */
const LIBRARY_WORDS: Record<string, { message: string; next: string }> = {
  "This authorization was not started in this browser; start again": {
    message:
      "This sign-in was already finished, has expired (a sign-in page lasts 10 minutes), or was started in another browser.",
    next: START_AGAIN,
  },
  "This authorization expired or was already used; start again": {
    message: "This sign-in has expired (a sign-in page lasts 10 minutes) or was already finished.",
    next: START_AGAIN,
  },
  "Invalid redirect URI": {
    message:
      "This app asked to come back to an address (redirect URI) it is not registered with here: its registration is probably out of date.",
    next: `Starting again alone sends you here again: ${CLEAR_SAVED_SIGN_IN} An app known by a web address (a metadata document) must list that address there: tell its publisher.`,
  },
};

/**
 * Runs an authorization step and turns the library's validation errors into what the user should see:
 * a redirect to the client only when the library vouched for the redirect URI, a local page otherwise.
 */
export async function renderingAuthErrors(step: (oauth: OAuthHelpers) => Promise<Response>, env: EdgeEnv): Promise<Response> {
  try {
    return await step(edgeOAuth(edgeConfig(env)).authorizationServer.getOAuthApi(env));
  } catch (error) {
    if (error instanceof AuthorizationError && error.redirectTo) return Response.redirect(error.redirectTo, 302);
    if (error instanceof AuthorizationError) {
      const words = LIBRARY_WORDS[error.description];
      return errorPage(400, words?.message ?? error.description, words?.next);
    }
    if (error instanceof CimdFetchError) return cimdFetchFailurePage(error);
    throw error;
  }
}
