import { authorizationErrorRedirect } from "@cloudflare/workers-oauth-provider";
import { recordAudit } from "../audit/record.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv, UserProps } from "../env.ts";
import { warmUpstreams } from "../upstream/warm.ts";
import { type PendingSignIn, renderingAuthErrors } from "./authorize.ts";
import { domainRefusal } from "./domain-policy.ts";
import { grantCode } from "./grant-code.ts";
import { signInGroups } from "./groups/grant-groups.ts";
import { errorPage } from "./html.ts";
import { discoverProvider } from "./idp/discovery.ts";
import { exchangeCode } from "./idp/exchange-code.ts";
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
    if (params.get("error") || !code) {
      headers.set("location", idpRefusal(original, params.get("error")));
      return new Response(null, { status: 302, headers });
    }

    const config = edgeConfig(env);
    let user: UserProps;
    try {
      const provider = await discoverProvider(config.idp.issuer, config.idp.requestTimeoutSeconds * 1000);
      user = await verifyIdToken(
        config,
        idpKeys(provider),
        await exchangeCode(config, provider, code, data.verifier),
        data.nonce,
      );
    } catch (error) {
      console.warn(`sign-in failed at the identity provider step: ${(error as Error).message}`);
      return errorPage(502, `Signing in with the identity provider failed: ${(error as Error).message}`);
    }

    const audit = () => ({
      userSub: user.sub,
      userEmail: user.email,
      clientId: original.clientId,
      latencyMs: Date.now() - started,
    });
    const refusal = domainRefusal(config, user);
    if (refusal) {
      recordAudit(env, ctx, { ...audit(), kind: "auth.denied", outcome: "denied" });
      return errorPage(403, `${refusal}.`);
    }

    const props = await signInGroups(config, user, original.clientId, { env, ctx });
    if (props instanceof Response) return props;
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
function idpRefusal(original: Parameters<typeof authorizationErrorRedirect>[0], error: string | null): string {
  // The parameter is the IdP's (or anyone's) text: only a plain error code is repeated.
  const said = error && /^[a-z_]{1,64}$/.test(error) ? error : error ? "an error" : "no code";
  console.warn(`sign-in: the identity provider answered ${said}`);
  const code = PASSED_ON.has(said) ? (said as "temporarily_unavailable" | "server_error") : "access_denied";
  return authorizationErrorRedirect(original, code, `the identity provider answered ${said}`);
}
