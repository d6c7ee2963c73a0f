import type { EdgeConfig } from "../../contract/config/schema.ts";
import { recordAudit } from "../audit/record.ts";
import type { EdgeEnv } from "../env.ts";
import { edgeOAuth, REFRESH_TOKEN_TTL_SECONDS } from "./authorization-server.ts";
import { type GrantRef, grantOfToken } from "./grant-turn.ts";
import { oauthError } from "./oauth-error.ts";
import { forgetValidatedTokens } from "./token-cache.ts";

/** When a refresh token was rotated away (KV, `refresh-retired:<SHA-256 of the token>`). */
interface Retired {
  retiredAt: number;
  /** The SHA-256 of the refresh token its last rotation issued. */
  successor?: string;
  /** It was honoured once more within the grace: the next time it comes back is reuse. */
  retried?: boolean;
}

const RETIRED_PREFIX = "refresh-retired:";

/**
 * Runs a refresh-token grant with reuse detection (OAuth 2.1 §4.3.1, Security BCP §4.14.2). The library
 * rotates refresh tokens but keeps the previous one valid until its successor is used, and never notices a
 * rotated token coming back. So the edge remembers each refresh token it saw rotated (one KV record per
 * refresh, kept as long as a grant can live) and, when one is presented again, revokes the whole grant:
 * either the client or a thief holds a copy, and the server cannot tell which. Exception: within
 * `refreshReuseGraceSeconds` of the rotation the library may honour it once more (the client lost the
 * answer and retries); if the library refuses it by then (its successor was used), that is reuse too. The retry
 * makes the successor the client never saw a retired token in turn, so that whoever does present it revokes the
 * grant; a second retry is reuse.
 *
 * Requests on one grant take turns (grant-turn.ts), so a copy presented at the same moment as the token is one of
 * the cases above, not a second first use. KV, like the library's own grant records, is eventually consistent
 * across locations: a copy replayed far away within about a minute of the rotation may be missed.
 */
export async function refreshDetectingReuse(
  refreshToken: string,
  clientId: string | undefined,
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  refresh: () => Promise<Response>,
): Promise<Response> {
  const started = Date.now();
  const key = `${RETIRED_PREFIX}${await sha256Hex(refreshToken)}`;
  const retired = await env.OAUTH_KV.get<Retired>(key, "json");
  const graceMs = config.oauth.refreshReuseGraceSeconds * 1000;
  if (retired && (retired.retried || started - retired.retiredAt >= graceMs))
    return revokeReusedGrant(refreshToken, clientId, env, ctx, config, started);

  const response = await refresh();
  if (response.ok) {
    const successor = await successorOf(response);
    // The first rotation is what counts: a retry within the grace does not restart it.
    const record: Retired = retired ? { ...retired, successor, retried: true } : { retiredAt: started, successor };
    await Promise.all([
      retire(env, key, record),
      retired?.successor && retire(env, `${RETIRED_PREFIX}${retired.successor}`, { retiredAt: 0 }),
    ]);
    return response;
  }
  if (retired && (await errorCode(response)) === "invalid_grant") {
    return revokeReusedGrant(refreshToken, clientId, env, ctx, config, started);
  }
  return response;
}

async function revokeReusedGrant(
  refreshToken: string,
  clientId: string | undefined,
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  started: number,
): Promise<Response> {
  const grant = await reusedGrantRecord(env, grantOfToken(refreshToken));
  if (grant) {
    await edgeOAuth(config).authorizationServer.getOAuthApi(env).revokeGrant(grant.id, grant.userId);
    forgetValidatedTokens();
    console.warn("refresh-token-grant: a rotated refresh token was presented again; its grant is revoked");
  } else {
    console.warn("refresh-token-grant: a rotated refresh token was presented again; its grant was already gone");
  }
  recordAudit(env, ctx, {
    kind: "auth.refresh_reuse",
    outcome: "denied",
    userSub: grant?.metadata?.sub,
    userEmail: grant?.metadata?.email,
    clientId: grant?.clientId ?? clientId,
    // The grants this reuse revoked, as `auth.user_signed_out` counts them: absent when it was already gone (revoked
    // by an earlier reuse or a sign-out, or expired).
    ...(grant && { count: 1 }),
    httpStatus: 400,
    latencyMs: Date.now() - started,
  });
  return oauthError(400, "invalid_grant", "refresh token was already used; sign in again");
}

/** What the edge reads of the library's grant record. */
interface GrantRecord {
  id: string;
  userId: string;
  clientId?: string;
  metadata?: { sub?: string; email?: string } | null;
}

/**
 * The one grant the token names, read by its key. Not by listing the user's grants: a list page holds 1,000 of them
 * and a user who signs in often has more, and reading each of them would take as many KV reads (a Worker's
 * subrequests are limited). The key is the library's (`grant:<userId>:<grantId>`, as its listUserGrants and
 * revokeGrant build it; it has no call that reads one grant).
 */
async function reusedGrantRecord(env: EdgeEnv, ref: GrantRef | undefined): Promise<GrantRecord | undefined> {
  if (!ref) return undefined;
  const record = await env.OAUTH_KV.get<GrantRecord>(`grant:${ref.userId}:${ref.grantId}`, "json");
  return record?.id === ref.grantId && record.userId === ref.userId ? record : undefined;
}

const retire = (env: EdgeEnv, key: string, record: Retired) =>
  env.OAUTH_KV.put(key, JSON.stringify(record), { expirationTtl: REFRESH_TOKEN_TTL_SECONDS });

/** The SHA-256 of the refresh token a successful grant issued, if it issued one. */
async function successorOf(response: Response): Promise<string | undefined> {
  const body = (await response
    .clone()
    .json()
    .catch(() => ({}))) as { refresh_token?: unknown };
  return typeof body.refresh_token === "string" ? sha256Hex(body.refresh_token) : undefined;
}

async function errorCode(response: Response): Promise<string | undefined> {
  const body = (await response
    .clone()
    .json()
    .catch(() => ({}))) as { error?: unknown };
  return typeof body.error === "string" ? body.error : undefined;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
