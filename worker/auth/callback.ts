import { authorizationErrorRedirect } from "@cloudflare/workers-oauth-provider";
import { recordAudit } from "../audit/record.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv, UserProps } from "../env.ts";
import { warmUpstreams } from "../upstream/warm.ts";
import { type PendingSignIn, renderingAuthErrors } from "./authorize.ts";
import { domainRefusal } from "./domain-policy.ts";
import { grantCode } from "./grant-code.ts";
import { GroupsRefusal, signInGroups } from "./groups/grant-groups.ts";
import { errorPage, START_AGAIN } from "./html.ts";
import { discoverProvider } from "./idp/discovery.ts";
import { exchangeCode } from "./idp/exchange-code.ts";
import { providerUnreachable } from "./idp/idp-unavailable.ts";
import { idpKeys, verifyIdToken } from "./idp/verify-id-token.ts";

/**
 * GET /callback: the IdP sent the browser back. Recover the approved request (the state is single-use and
 * bound to this browser), prove who signed in, and issue the edge's own authorization code to the MCP client.
 */
export async function finishSignIn(request: Request, env: EdgeEnv, ctx: ExecutionContext): Promise<Response> {
  return renderingAuthErrors(async (oauth) => {
    const started = Date.now();
    const { request: original, data, headers } = await oauth.finishUpstream<PendingSignIn>(request);
    const params = new URL(request.url).searchParams;
    const code = params.get("code");
    const refused = (step: SignInStep, outcome: "denied" | "unavailable", httpStatus: number, who?: UserProps) =>
      recordAudit(env, ctx, {
        kind: "auth.denied",
        outcome,
        method: `/callback (${step})`,
        httpStatus,
        clientId: original.clientId,
        ...(who && { userSub: who.sub, userEmail: who.email }),
        latencyMs: Date.now() - started,
      });
    if (params.get("error") || !code) {
      const { location, unavailable } = idpRefusal(original, params.get("error"));
      refused("idp_error", unavailable ? "unavailable" : "denied", 302);
      headers.set("location", location);
      return new Response(null, { status: 302, headers });
    }

    const config = edgeConfig(env);
    let user: UserProps;
    // A forged or replayed code, an id_token that fails its checks, or the provider away: recorded, as probing shows here.
    let step: "code_exchange" | "id_token" = "code_exchange";
    let reached = false;
    try {
      const provider = await discoverProvider(config.idp.issuer, config.idp.requestTimeoutSeconds * 1000);
      reached = true;
      const idToken = await exchangeCode(config, provider, code, data.verifier);
      step = "id_token";
      user = await verifyIdToken(config, idpKeys(provider), idToken, data.nonce);
    } catch (error) {
      console.warn(`sign-in failed at the identity provider step (${step}): ${(error as Error).message}`);
      refused(step, !reached || providerUnreachable(error) ? "unavailable" : "denied", 502);
      return errorPage(502, `Signing in with the identity provider failed: ${(error as Error).message}`, START_AGAIN);
    }

    const audit = () => ({
      userSub: user.sub,
      userEmail: user.email,
      clientId: original.clientId,
      latencyMs: Date.now() - started,
    });
    const refusal = domainRefusal(config, user);
    if (refusal) {
      refused("email_domain", "denied", 403, user);
      // The account is named: the identity provider may have signed in another one than the person meant.
      return errorPage(
        403,
        `You signed in as ${user.email ?? "an account without an e-mail address"}, and ${refusal}.`,
        `Sign out of that account at the identity provider (or use a private window) to use a company account. ${START_AGAIN}`,
      );
    }

    const props = await signInGroups(config, user, original.clientId, { env, ctx });
    if (props instanceof GroupsRefusal) {
      refused(props.step, props.step === "groups_unavailable" ? "unavailable" : "denied", props.page.status, user);
      return props.page;
    }
    const redirectTo = await grantCode(oauth, original, props, config.adminGroups, env.OAUTH_KV);
    recordAudit(env, ctx, { ...audit(), kind: "auth.sign_in", outcome: "ok" });
    ctx.waitUntil(warmUpstreams(env, config, props, original.clientId, original.resource));
    headers.set("location", redirectTo);
    return new Response(null, { status: 302, headers });
  }, env);
}

/** The IdP's errors an app may be told as they are (RFC 6749 §4.1.2.1): a passing outage is not the user's refusal. */
const PASSED_ON = new Set(["temporarily_unavailable", "server_error"]);

/**
 * Where the app is sent when the identity provider answered with an error (or without a code): `access_denied` unless
 * the IdP said it is unavailable, with a description naming what it said; logged for the operator.
 */
function idpRefusal(
  original: Parameters<typeof authorizationErrorRedirect>[0],
  error: string | null,
): { location: string; unavailable: boolean } {
  // The parameter is the IdP's (or anyone's) text: only a plain error code is repeated.
  const said = error && /^[a-z_]{1,64}$/.test(error) ? error : error ? "an error" : "no code";
  console.warn(`sign-in: the identity provider answered ${said}`);
  const unavailable = PASSED_ON.has(said);
  const code = unavailable ? (said as "temporarily_unavailable" | "server_error") : "access_denied";
  return { location: authorizationErrorRedirect(original, code, `the identity provider answered ${said}`), unavailable };
}

/**
 * Where a sign-in was refused after the consent, a fixed code: its `auth.denied` event's `method` is
 * `/callback (<step>)` (docs/security.md). `idp_error`: the provider answered an error instead of a code;
 * `code_exchange`: it would not exchange the code (forged, replayed, expired) or could not be reached; `id_token`: the
 * id_token failed a check; then the e-mail domain, and the groups step's refusals.
 */
type SignInStep = "idp_error" | "code_exchange" | "id_token" | "email_domain" | GroupsRefusal["step"];
