import type { UpstreamServer } from "../../../contract/config/schema.ts";
import type { Caller, UpstreamHost } from "../hosting/upstream-host.ts";
import { RENEW_EARLY_MS } from "../identity/google/delegated-token.ts";
import { GoogleCredentialsFailed } from "./google-credentials-failed.ts";
import { googleHeaderFetch } from "./google-header-fetch.ts";
import type { GoogleUserTokens } from "./google-user-tokens.ts";
import { tokenRecycledHost } from "./token-recycled-host.ts";

/** What a connection carries of the user's Google credentials: a stdio child's extra environment, an HTTP fetch. */
export interface InjectedCredentials {
  env?: Record<string, string>;
  send?: typeof fetch;
}

/** JSON-RPC code of a request whose upstream credentials could not be made (the server error range, like -32000). */
const CREDENTIALS_UNAVAILABLE = -32000;
/**
 * A stdio child starts with a token that has at least this long to live (Google's live an hour): a cached token
 * closer to its end is renewed first, so a child is not replaced minutes after it started.
 */
const CHILD_TOKEN_MIN_MS = 30 * 60 * 1000;

/**
 * A child whose token nears expiry is still kept while a call of its user is parked in it (waiting for the user's
 * answer), as long as the token has this long to live: enough for the retry's call to finish with it.
 */
const PARKED_CALL_MIN_MS = 60 * 1000;

export interface GoogleCredentialsHostParts {
  credentials: NonNullable<UpstreamServer["googleCredentials"]>;
  caller: Caller;
  /** Absent: the origin has no `google` block (its configuration refuses that; a host built without one says so). */
  tokens: GoogleUserTokens | undefined;
  /** Connects to the upstream with these credentials. */
  connect: (injected: InjectedCredentials) => Promise<UpstreamHost>;
}

/**
 * One user's upstream with `googleCredentials`. The token is made before anything starts, so a refusal (say,
 * domain-wide delegation not granted for the scopes) fails the request clearly and starts no child. An HTTP
 * server gets the token in its header on every request; a stdio child in its environment, and the child gives way to
 * a new one when its token nears expiry.
 */
export async function googleCredentialsHost(parts: GoogleCredentialsHostParts): Promise<UpstreamHost> {
  const { scopes, inject } = parts.credentials;
  const { server, email } = parts.caller;
  const tokens = parts.tokens;
  if (!tokens)
    throw new Error(`server "${server}" has googleCredentials, but the origin has no google block (docs/google-workspace.md)`);
  if (!email)
    throw new Error(
      `server "${server}" needs the user's e-mail for its Google credentials (the delegation's subject), and the edge's assertion names none`,
    );
  const tokenFor = async (minRemainingMs?: number) => {
    try {
      return await tokens.tokenFor(email, scopes, minRemainingMs);
    } catch (error) {
      throw new GoogleCredentialsFailed(server, scopes, error);
    }
  };
  if ("header" in inject) {
    await tokenFor();
    return parts.connect({ send: googleHeaderFetch(async () => (await tokenFor()).token, inject.header) });
  }
  return tokenRecycledHost({
    start: async () => {
      const { token, expiresAt } = await tokenFor(CHILD_TOKEN_MIN_MS);
      return { host: await parts.connect({ env: { [inject.env]: token } }), expiresAt };
    },
    needsRenewal: (expiresAt) => expiresAt - tokens.now() <= RENEW_EARLY_MS,
    stillValid: (expiresAt) => expiresAt - tokens.now() > PARKED_CALL_MIN_MS,
    refused: (error) => ({ code: CREDENTIALS_UNAVAILABLE, message: (error as Error).message }),
  });
}
