import type { EdgeConfig } from "../../contract/config/schema.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { edgeOAuth, TOKEN_PATH } from "./authorization-server.ts";
import { tokenRequestClientIds } from "./cimd/token-request-client-ids.ts";
import { type GrantRef, GrantTurnUnavailable, grantOfToken, inGrantTurn } from "./grant-turn.ts";
import { signOutGoneAccount } from "./groups/directory-sign-out.ts";
import { takeRefusedRefresh } from "./groups/refused-refreshes.ts";
import { tooLongToLookUp } from "./key-bounds.ts";
import { clientRefused, oauthError } from "./oauth-error.ts";
import { verifierProblem } from "./pkce-syntax.ts";
import { rateLimited } from "./rate-limit.ts";
import { withLimitedBody } from "./read-limited-body.ts";
import { refreshDetectingReuse } from "./refresh-reuse.ts";
import { forgetValidatedTokens } from "./token-cache.ts";
import { auditTokenRefusal, takeRefusal } from "./token-refusals.ts";

/**
 * POST /oauth/token (code exchange, refresh, revocation): rate-limited per client IP, the body bounded while
 * it streams in, the PKCE verifier's syntax checked, requests on one grant taken in turn, refresh-token reuse
 * detected, and a user whose refresh was refused for their Workspace account signed out everywhere once the turn is
 * over; the library does the rest. The edge's own sign-ins redeem their codes here too (own-browser-client.ts): their
 * refusals are audited as made at `at`, the path their browser came back to.
 */
export async function handleTokenRequest(
  request: Request,
  env: EdgeEnv,
  ctx: ExecutionContext,
  at: string = TOKEN_PATH,
): Promise<Response> {
  const config = edgeConfig(env);
  const limited = await rateLimited(request, env, config, TOKEN_PATH);
  if (!limited) return answerTokenRequest(request, env, ctx, config, at);
  if (limited.status !== 429) return limited;
  // Past the address's budget a code exchange or a refresh that holds a valid grant is still answered: a page of
  // another site can spend an office's budget with requests of its own, and must not stop everyone's refreshes (s24
  // hunt pages F13). Anything else past it (a revocation, answered 200 whatever its token) gets the 429 unread, and so
  // does a grant request that issues no tokens. Codes and refresh tokens carry 192-bit random secrets: the budget
  // never stood between them and a guess.
  const buffered = await withLimitedBody(request.clone(), config.oauth.maxBodyBytes);
  const grantType = buffered && (await formParams(buffered))?.get("grant_type");
  if (grantType !== "authorization_code" && grantType !== "refresh_token") return limited;
  // Its refusals are not audited one by one: the address's limit is (auth.rate_limited counts what it refused).
  const answer = await answerTokenRequest(request, env, ctx, config, undefined);
  return answer.ok && (await issuedTokens(answer)) ? answer : limited;
}

/** Whether a token endpoint answer issued tokens (the library's success carries an access token). */
const issuedTokens = async (answer: Response) =>
  typeof (
    (await answer
      .clone()
      .json()
      .catch(() => undefined)) as { access_token?: unknown } | undefined
  )?.access_token === "string";

/**
 * `auditedAt`: the library's refusals of a presented code, refresh token or client are recorded as `auth.denied` made
 * there (token-refusals.ts); past the address's budget (undefined) they are not (its limit is, as auth.rate_limited).
 */
async function answerTokenRequest(
  request: Request,
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  auditedAt: string | undefined,
): Promise<Response> {
  const buffered = await withLimitedBody(request, config.oauth.maxBodyBytes);
  if (!buffered) {
    console.warn("token-endpoint-request: body over the size limit");
    return oauthError(413, "invalid_request", `request body is larger than ${config.oauth.maxBodyBytes} bytes`);
  }
  const params = await formParams(buffered);
  // The library refuses other content types in its own words.
  if (!params) return takeRefusal(await edgeOAuth(config).authorizationServer.fetch(buffered, env, ctx)).answer;
  const overlong = await tooLongToLookUpAnswer(params, buffered);
  if (overlong) return overlong;

  const grantType = params.get("grant_type");
  if (grantType === "authorization_code") {
    const problem = verifierProblem(params.get("code_verifier"));
    if (problem) {
      console.warn("authorization-code-grant: code_verifier malformed");
      return oauthError(400, "invalid_request", problem);
    }
  }
  // Requests on one grant take turns: exchanged twice at once, a code gave tokens twice and its replay went unnoticed;
  // refreshed twice at once, a token's reuse went unnoticed; revoked during a refresh, a grant was written back.
  const grant = grantOfToken(params.get(GRANT_PARAMETER[grantType ?? ""] ?? ""));
  const handle = () => auditedGrantRequest(params, grantType, buffered, env, ctx, config, auditedAt);
  if (!grant) return handle();
  try {
    return await inGrantTurn(env, ctx, grant, handle).catch((error: unknown) => {
      if (!(error instanceof GrantTurnUnavailable)) throw error;
      console.warn(`token-endpoint-request: ${error.message}`);
      return oauthError(503, "temporarily_unavailable", "the grant is busy; try again shortly", { "retry-after": "2" });
    });
  } finally {
    await signOutRefusedUser(env, ctx, config, grant, params.get("client_id"));
  }
}

/**
 * After a refresh's turn: when the refresh was refused because the user's Workspace account is not active
 * (groups/refreshed-grant.ts), every other grant of theirs is revoked before the `invalid_grant` answer (the library
 * revoked the refreshed one), so that the client's next step, a new sign-in, finds nothing left.
 */
async function signOutRefusedUser(
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  grant: GrantRef,
  clientId: string | null,
): Promise<void> {
  const gone = takeRefusedRefresh(grant);
  if (!gone) return;
  await signOutGoneAccount(env, ctx, config, gone, {
    at: "refresh",
    httpStatus: 400,
    alsoRevoked: 1,
    ...(clientId && { clientId }),
  });
}

/** Where each kind of token request names its grant: a revocation (RFC 7009) has no grant type and names a token. */
const GRANT_PARAMETER: Record<string, string> = { authorization_code: "code", refresh_token: "refresh_token", "": "token" };

/** The library's answer, its mark taken off; a refusal it marked is audited as made `auditedAt`, when given. */
async function auditedGrantRequest(
  params: URLSearchParams,
  grantType: string | null,
  buffered: Request,
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  auditedAt: string | undefined,
): Promise<Response> {
  const started = Date.now();
  const { answer, check } = takeRefusal(await handleGrantRequest(params, grantType, buffered, env, ctx, config));
  if (check && auditedAt) {
    auditTokenRefusal(env, ctx, { at: auditedAt, check, status: answer.status, clientId: params.get("client_id"), started });
  }
  return answer;
}

async function handleGrantRequest(
  params: URLSearchParams,
  grantType: string | null,
  buffered: Request,
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
): Promise<Response> {
  const server = edgeOAuth(config).authorizationServer;
  const refreshToken = params.get("refresh_token");
  if (grantType === "refresh_token" && refreshToken) {
    const clientId = params.get("client_id") ?? undefined;
    return refreshDetectingReuse(refreshToken, clientId, env, ctx, config, () => server.fetch(buffered, env, ctx));
  }
  const answer = await server.fetch(buffered, env, ctx);
  // A revocation (RFC 7009: a `token` and no grant type) takes effect in this isolate at once, cache or not.
  if (!grantType && params.has("token")) forgetValidatedTokens();
  return answer;
}

/**
 * The answer to a request naming a client or a token too long to be one (key-bounds.ts), as to one that matches
 * nothing: an unknown client, an unknown code or refresh token, and for a revocation (RFC 7009 §2.2) 200.
 */
async function tooLongToLookUpAnswer(params: URLSearchParams, request: Request): Promise<Response | undefined> {
  // Every client id the library would look up: client_id, the Basic user, a client assertion's iss and sub.
  const clients = await tokenRequestClientIds(request);
  if ("ids" in clients && clients.ids.some((id) => tooLongToLookUp(id))) return clientRefused(request, "Client not found");
  if (tooLongToLookUp(params.get("code")) || tooLongToLookUp(params.get("refresh_token")))
    return oauthError(400, "invalid_grant", "Invalid or expired grant");
  if (tooLongToLookUp(params.get("token"))) return new Response(null, { status: 200 });
  return undefined;
}

async function formParams(request: Request): Promise<URLSearchParams | null> {
  const mediaType = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/x-www-form-urlencoded") return null;
  return new URLSearchParams(new TextDecoder().decode(await request.clone().arrayBuffer()));
}
