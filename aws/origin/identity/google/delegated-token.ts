import { type GoogleConfig, serviceAccountMethodUrl } from "./federated-client.ts";
import { googleFetch } from "./google-fetch.ts";
import { renewingCache } from "./renewing-cache.ts";

/** The domain-wide delegation scope that reads groups: all a group look-up asks for. */
export const GROUPS_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly";
/** The scope that reads users, asked for too only with `google.checkAccounts` (each user's account state). */
export const ACCOUNTS_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly";
/** Every Directory scope the origin may ask for: what to authorize for its client id in the admin console. */
export const DIRECTORY_SCOPES = [GROUPS_SCOPE, ACCOUNTS_SCOPE];
/** The scopes a look-up asks for: the group scope, and the user scope only when it checks accounts. */
export const directoryScopes = (checkAccounts: boolean): string[] => (checkAccounts ? [...DIRECTORY_SCOPES] : [GROUPS_SCOPE]);
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** Google accepts delegation JWTs that live at most an hour. */
const ASSERTION_SECONDS = 3600;
/** A delegated token is renewed this long before it expires, so no call starts with one about to lapse. */
export const RENEW_EARLY_MS = 5 * 60 * 1000;

/** An access token that acts as a Workspace user, and when it expires (epoch milliseconds, on the cache's clock). */
export interface DelegatedToken {
  token: string;
  expiresAt: number;
}

/**
 * Access tokens that act as a Workspace user (`subject`) with some scopes, by domain-wide delegation without a key
 * file: the service account signs the delegation JWT through IAM Credentials `signJwt` (with its own federated
 * token), and the OAuth token endpoint's JWT-bearer grant turns it into an access token. google-auth-library does
 * this only for a service account key, so these two calls are made here. Each (subject, scopes) is cached until it
 * has less than `minRemainingMs` (default RENEW_EARLY_MS) left; concurrent callers share one renewal.
 */
export function delegatedTokens(
  google: GoogleConfig,
  serviceAccountToken: () => Promise<string>,
  now: () => number = Date.now,
): (subject: string, scopes: readonly string[], minRemainingMs?: number) => Promise<DelegatedToken> {
  const cache = renewingCache(async (key) => {
    const [subject = "", scopes = ""] = key.split("\u0000");
    const answer = await delegatedGrant(google, await signDelegationJwt(google, await serviceAccountToken(), subject, scopes));
    return { token: answer.access_token, expiresAt: now() + answer.expires_in * 1000 };
  }, now);
  return (subject, scopes, minRemainingMs = RENEW_EARLY_MS) =>
    cache(`${subject}\u0000${[...new Set(scopes)].sort().join(" ")}`, minRemainingMs);
}

/** A token that acts as the Workspace admin (`google.adminUser`) with the look-up's scopes (`directoryScopes`). */
export function delegatedDirectoryTokens(
  google: GoogleConfig,
  adminUser: string,
  serviceAccountToken: () => Promise<string>,
): () => Promise<string> {
  const tokens = delegatedTokens(google, serviceAccountToken);
  const scopes = directoryScopes(google.checkAccounts);
  return async () => (await tokens(adminUser, scopes)).token;
}

function delegatedGrant(google: GoogleConfig, assertion: string) {
  return googleFetch<{ access_token: string; expires_in: number }>(
    "delegation",
    google.endpoints.oauthToken,
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }),
    },
    google.requestTimeoutSeconds,
  );
}

async function signDelegationJwt(
  google: GoogleConfig,
  serviceAccountToken: string,
  subject: string,
  scope: string,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: google.serviceAccount,
    sub: subject,
    scope,
    aud: google.endpoints.oauthToken,
    iat: now,
    exp: now + ASSERTION_SECONDS,
  };
  const { signedJwt } = await googleFetch<{ signedJwt: string }>(
    "delegation",
    serviceAccountMethodUrl(google, "signJwt"),
    {
      method: "POST",
      headers: { authorization: `Bearer ${serviceAccountToken}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: JSON.stringify(claims) }),
    },
    google.requestTimeoutSeconds,
  );
  return signedJwt;
}
