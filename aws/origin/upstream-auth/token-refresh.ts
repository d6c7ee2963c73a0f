import {
  type OAuthClientInformationMixed,
  OAuthError,
  OAuthErrorCode,
  type OAuthTokens,
  refreshAuthorization,
} from "@modelcontextprotocol/client";
import type { HttpServer } from "../../../contract/config/schema.ts";
import type { RefreshMark, StoredConnection, TokenOwner, TokenVault } from "../vault/token-vault.ts";
import { AUTHORIZATION_SERVER_TIMEOUT_MS, authorizationServerStep } from "./authorization-server-fetch.ts";
import { authorizationServerWords } from "./authorization-server-words.ts";
import { type ClientRegistrations, refusesTheClient } from "./client-registration.ts";
import type { AuthorizationDiscovery } from "./discovery.ts";

/** An access token this close to its expiry is refreshed before use, so a call never carries one about to lapse. */
const REFRESH_AHEAD_MS = 60_000;
/**
 * How long an instance's mark on a row it refreshes lasts: longer than a refresh can take (the issuer's metadata and
 * the token request, each bounded in time), so that the mark lapses only when its instance died.
 */
const REFRESH_LEASE_MS = 3 * AUTHORIZATION_SERVER_TIMEOUT_MS;
/** How long a request waits for another instance's refresh of the same token before failing (the token is kept). */
const REFRESH_WAIT_MS = 15_000;
const REFRESH_POLL_MS = 100;

/** What a refresh reads and writes. */
export interface RefreshParts {
  vault: TokenVault;
  discovery: AuthorizationDiscovery;
  /**
   * The client a renewal authenticates as (a static one as configured now), and told of a dynamic registration the
   * authorization server refused, so that the next consent registers anew.
   */
  clients: Pick<ClientRegistrations, "forget" | "forRenewal" | "rereadAfterRefusal">;
  log: (line: string) => void;
}

/** Whether a stored access token may still be used as it is. */
export const isFresh = (stored: Pick<StoredConnection, "expiresAt">) =>
  (stored.expiresAt ?? Number.POSITIVE_INFINITY) - Date.now() > REFRESH_AHEAD_MS;

/**
 * Renews the user's token (ahead of expiry, or after the upstream refused `rejected`), one refresh at a time per user
 * and server across all origin instances: the first marks the row (TokenVault.beginRefresh), the others wait for the
 * token it stores. When the authorization server refuses the grant, the row is deleted: the user is asked to consent
 * again, and no one else is affected. When it cannot be reached or fails, the row is kept and UpstreamTokenUnavailable
 * is thrown: the request fails, the next one tries again. Undefined: there is no token (consent is needed).
 */
export async function refreshToken(
  parts: RefreshParts,
  owner: TokenOwner,
  rejected: string,
  spec: HttpServer,
): Promise<string | undefined> {
  const marked = await markOrWait(parts.vault, owner, rejected);
  if (marked === undefined || typeof marked === "string") return marked;
  const { stored, mark } = marked;
  if (!stored.refreshToken) return forget(parts, owner, marked, "it has no refresh token");
  const refreshWith = stored.refreshToken;
  let client = stored.client;
  let tokens: OAuthTokens;
  try {
    client = await parts.clients.forRenewal(spec, stored.client);
    tokens = await renew(parts, stored, refreshWith, client).catch(async (error: unknown) => {
      const reread = refusesTheClient(error) ? await parts.clients.rereadAfterRefusal(spec, client) : undefined;
      if (!reread) throw error;
      client = reread;
      return renew(parts, stored, refreshWith, client);
    });
  } catch (error) {
    const words = authorizationServerWords(error, [stored.refreshToken, stored.accessToken, client.client_secret]);
    if (refusesTheClient(error)) parts.clients.forget(owner.server, client.client_id);
    if (refusesTheGrant(error)) return forget(parts, owner, marked, `its refresh was refused (${words})`);
    await parts.vault.endRefresh(owner, mark);
    parts.log(`upstream OAuth: renewing a token for server "${owner.server}" failed: ${words}`);
    throw new UpstreamTokenUnavailable(owner.server, error);
  }
  const renewed = connectionOf({ refresh_token: stored.refreshToken, ...tokens }, { ...stored, client });
  if (await parts.vault.putRefreshed(owner, renewed, mark)) return renewed.accessToken;
  return afterLostMark(parts, owner, stored, renewed.accessToken);
}

/** One refresh-token request for `stored`'s grant, authenticated as `client`. */
async function renew(
  parts: RefreshParts,
  stored: StoredConnection,
  refreshToken: string,
  client: OAuthClientInformationMixed,
): Promise<OAuthTokens> {
  return refreshAuthorization(stored.issuer, {
    metadata: await parts.discovery.metadataOf(stored.issuer),
    clientInformation: client,
    refreshToken,
    resource: stored.resource,
    fetchFn: authorizationServerStep(stored.issuer),
  });
}

/**
 * The row no longer carries this refresh's mark: it was revoked (no token: consent is needed), the user consented
 * anew or another instance renewed it (its token is the one to use), or the mark lapsed and another instance holds
 * the row now (`renewed`, this refresh's token, is still good for this request; the row is theirs to renew).
 */
async function afterLostMark(
  parts: RefreshParts,
  owner: TokenOwner,
  stored: StoredConnection,
  renewed: string | undefined,
): Promise<string | undefined> {
  const current = await parts.vault.get(owner);
  const [what, token] = !current
    ? ["was revoked", undefined]
    : current.accessToken !== stored.accessToken
      ? ["was consented anew or renewed elsewhere", current.accessToken]
      : ["is being renewed by another instance (this refresh's mark lapsed)", renewed];
  parts.log(
    `upstream OAuth: while a user's token for server "${owner.server}" was renewed, the connection ${what}; this refresh's tokens were not stored`,
  );
  return token;
}

/**
 * Takes the row's refresh mark (then answers the stored connection and the mark, for the caller to refresh), or waits
 * while another instance holds it and answers the token that instance stored. Undefined: no row.
 */
async function markOrWait(
  vault: TokenVault,
  owner: TokenOwner,
  rejected: string,
): Promise<{ stored: StoredConnection; mark: RefreshMark } | string | undefined> {
  const giveUpAt = Date.now() + REFRESH_WAIT_MS;
  for (;;) {
    const stored = await vault.get(owner);
    if (!stored) return undefined;
    // Another instance refreshed meanwhile: its token is the one to use.
    if (stored.accessToken !== rejected && isFresh(stored)) return stored.accessToken;
    const mark = await vault.beginRefresh(owner, REFRESH_LEASE_MS);
    if (mark) {
      // Read again under the mark: the other instance may have stored its tokens between the read and the mark.
      const current = await vault.get(owner);
      if (current?.accessToken === stored.accessToken) return { stored: current, mark };
      await vault.endRefresh(owner, mark);
      continue;
    }
    if (Date.now() > giveUpAt) throw new UpstreamTokenUnavailable(owner.server, new Error(ANOTHER_INSTANCE));
    await new Promise((resolve) => setTimeout(resolve, REFRESH_POLL_MS));
  }
}

/** Drops the row this refresh holds (the user consents again), unless it changed meanwhile (see afterLostMark). */
async function forget(
  parts: RefreshParts,
  owner: TokenOwner,
  { stored, mark }: { stored: StoredConnection; mark: RefreshMark },
  why: string,
): Promise<string | undefined> {
  if (!(await parts.vault.forgetMarked(owner, mark))) return afterLostMark(parts, owner, stored, undefined);
  parts.log(
    `upstream OAuth: a user's token for server "${owner.server}" was dropped because ${why}; they will be asked to consent again`,
  );
  return undefined;
}

/**
 * The authorization server's answers that end a grant (RFC 6749 §5.2): the user must consent again. Anything else (no
 * answer, a 5xx, `temporarily_unavailable`) says nothing about the grant, so the tokens are kept for the next try.
 */
const GRANT_ENDING = new Set<string>([
  OAuthErrorCode.InvalidGrant,
  OAuthErrorCode.InvalidClient,
  OAuthErrorCode.UnauthorizedClient,
]);
const refusesTheGrant = (error: unknown) => error instanceof OAuthError && GRANT_ENDING.has(error.code);

/** A user's upstream token could not be renewed for now; it is kept, and the next request tries again. */
export class UpstreamTokenUnavailable extends Error {
  constructor(server: string, cause: unknown) {
    super(
      `the authorization server of server "${server}" could not renew your token just now (${reasonOf(cause)}); your connection is kept: try again shortly`,
      { cause },
    );
    this.name = "UpstreamTokenUnavailable";
  }
}

/**
 * Why a renewal failed, as the user is told it: an OAuth error code or a timeout, never the server's own words (its
 * answer may echo anything, the request's refresh token included); the origin's log has those.
 */
function reasonOf(cause: unknown): string {
  if (cause instanceof OAuthError && /^[a-z_]{1,64}$/.test(cause.code)) return cause.code;
  const name = (cause as Error | undefined)?.name;
  if (name === "TimeoutError" || name === "AbortError") return "timeout";
  return (cause as Error | undefined)?.message === ANOTHER_INSTANCE ? ANOTHER_INSTANCE : "no usable answer";
}

const ANOTHER_INSTANCE = "another origin instance is renewing it and has not finished";

/** The tokens an authorization server issued, as the vault keeps them with the client and issuer they came from. */
export function connectionOf(
  tokens: OAuthTokens,
  origin: Pick<StoredConnection, "client" | "issuer" | "resource">,
): StoredConnection {
  return {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    expiresAt: tokens.expires_in === undefined ? undefined : Date.now() + tokens.expires_in * 1000,
    scope: tokens.scope,
    client: origin.client,
    issuer: origin.issuer,
    resource: origin.resource,
  };
}
