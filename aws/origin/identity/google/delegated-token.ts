import { type GoogleConfig, serviceAccountMethodUrl } from "./federated-client.ts";
import { googleFetch } from "./google-fetch.ts";

/** Domain-wide delegation scopes: read groups, and read users (the Directory resolves a user's key through them). */
export const DIRECTORY_SCOPES = [
  "https://www.googleapis.com/auth/admin.directory.group.readonly",
  "https://www.googleapis.com/auth/admin.directory.user.readonly",
];
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** Google accepts delegation JWTs that live at most an hour. */
const ASSERTION_SECONDS = 3600;
/** A delegated token is renewed this long before it expires, so no look-up starts with one about to lapse. */
const RENEW_EARLY_MS = 5 * 60 * 1000;

/**
 * A token that acts as the Workspace admin `google.adminUser`, by domain-wide delegation without a key file: the
 * service account signs the delegation JWT through IAM Credentials `signJwt` (with its own federated token), and the
 * OAuth token endpoint's JWT-bearer grant turns it into an access token with the directory scopes. google-auth-library
 * does this only for a service account key, so these two calls are made here. Cached until near expiry; concurrent
 * callers share one renewal.
 */
export function delegatedDirectoryTokens(
  google: GoogleConfig,
  serviceAccountToken: () => Promise<string>,
): () => Promise<string> {
  let current: { token: string; renewAt: number } | undefined;
  let renewing: Promise<string> | undefined;
  const renew = async () => {
    const signed = await signDelegationJwt(google, await serviceAccountToken());
    const answer = await googleFetch<{ access_token: string; expires_in: number }>(
      "delegation",
      google.endpoints.oauthToken,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: JWT_BEARER, assertion: signed }),
      },
      google.requestTimeoutSeconds,
    );
    current = { token: answer.access_token, renewAt: Date.now() + answer.expires_in * 1000 - RENEW_EARLY_MS };
    return answer.access_token;
  };
  return () => {
    if (current && Date.now() < current.renewAt) return Promise.resolve(current.token);
    renewing ??= renew().finally(() => {
      renewing = undefined;
    });
    return renewing;
  };
}

async function signDelegationJwt(google: GoogleConfig, serviceAccountToken: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: google.serviceAccount,
    sub: google.adminUser,
    scope: DIRECTORY_SCOPES.join(" "),
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
