import { randomBytes } from "node:crypto";
import {
  exchangeAuthorization,
  type OAuthClientInformationMixed,
  OAuthError,
  OAuthErrorCode,
  type OAuthTokens,
  refreshAuthorization,
  startAuthorization,
} from "@modelcontextprotocol/client";
import type { HttpServer } from "../../../contract/config/schema.ts";
import type { UpstreamOAuthOutcome, UpstreamOAuthReturn } from "../../../contract/upstream-oauth.ts";
import type { StoredConnection, TokenOwner, TokenVault } from "../vault/token-vault.ts";
import { AUTHORIZATION_SERVER_TIMEOUT_MS, authorizationServerFetch } from "./authorization-server-fetch.ts";
import type { ClientRegistrations } from "./client-registration.ts";
import type { AuthorizationDiscovery, Challenge } from "./discovery.ts";
import type { PendingAuthorizations } from "./pending-authorizations.ts";

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

export interface UpstreamOAuthParts {
  vault: TokenVault;
  pending: PendingAuthorizations;
  discovery: AuthorizationDiscovery;
  clients: ClientRegistrations;
  log: (line: string) => void;
}

/**
 * The origin as each user's OAuth client toward OAuth-protected upstreams (PKCE S256, RFC 8707 `resource`, RFC 9207
 * `iss`, all through the MCP SDK's helpers): begins a consent, completes it from the edge's callback, and hands out the
 * user's access token, refreshed ahead of its expiry. Tokens stay in the vault and in this process's memory only.
 */
export class UpstreamOAuth {
  readonly #parts: UpstreamOAuthParts;
  /** One refresh at a time per user and server: concurrent calls share it (a rotated refresh token is used once). */
  readonly #refreshing = new Map<string, Promise<string | undefined>>();

  constructor(parts: UpstreamOAuthParts) {
    this.#parts = parts;
  }

  /** Begins a consent for this user and server: the URL to send the user's browser to. */
  async begin(owner: TokenOwner, spec: HttpServer, challenge?: Challenge): Promise<URL> {
    const target = await this.#parts.discovery.target(owner.server, spec, challenge);
    const client = await this.#parts.clients.clientFor(owner.server, spec, target.metadata);
    const state = randomBytes(32).toString("base64url");
    const redirectUri = this.#parts.clients.redirectUri;
    const { authorizationUrl, codeVerifier } = await startAuthorization(target.issuer, {
      metadata: target.metadata,
      clientInformation: client,
      redirectUrl: redirectUri,
      scope: target.scope,
      state,
      resource: target.resource,
    });
    await this.#parts.pending.put(state, owner, {
      codeVerifier,
      client: clientOf(client),
      issuer: target.issuer,
      resource: target.resource,
      redirectUri,
    });
    return authorizationUrl;
  }

  /**
   * Completes the consent a state began, for the user whose browser brought it back (signed in at the edge): exchanges
   * the code and stores the user's tokens. A state made for another user is used up and refused: a forwarded link
   * never connects someone else's upstream account.
   */
  async complete(answer: UpstreamOAuthReturn, browser: { sub: string; email?: string }): Promise<UpstreamOAuthOutcome> {
    const taken = await this.#parts.pending.take(answer.state);
    if (!taken) {
      return {
        ok: false,
        message: "this link was used already or expired (links work once, for 10 minutes); call the tool again for a new one",
      };
    }
    const { owner, pending } = taken;
    if (owner.sub !== browser.sub) {
      this.#parts.log(`upstream OAuth: a consent link for server "${owner.server}" came back signed in as another user; refused`);
      return {
        ok: false,
        message: `this link was made for another user of the gateway, not for you (${browser.email ?? browser.sub}); it no longer works. Connect from your own MCP client: call the tool there`,
      };
    }
    if (answer.error || !answer.code) {
      return {
        ok: false,
        message: `the server's authorization was not given (${answer.error ?? "no code"}); call the tool again to retry`,
      };
    }
    const metadata = await this.#parts.discovery.metadataOf(pending.issuer);
    const tokens = await exchangeAuthorization(pending.issuer, {
      metadata,
      clientInformation: pending.client,
      authorizationCode: answer.code,
      iss: answer.iss,
      codeVerifier: pending.codeVerifier,
      redirectUri: pending.redirectUri,
      resource: pending.resource,
      fetchFn: authorizationServerFetch,
    });
    await this.#parts.vault.put(owner, connectionOf(tokens, pending));
    this.#parts.log(`upstream OAuth: a user connected to server "${owner.server}"`);
    return { ok: true, server: owner.server, email: owner.email };
  }

  /** The user's access token for the server (refreshed first when about to expire); undefined: consent is needed. */
  async accessToken(owner: TokenOwner): Promise<string | undefined> {
    const stored = await this.#parts.vault.get(owner);
    if (!stored) return undefined;
    if (stored.expiresAt === undefined || stored.expiresAt - Date.now() > REFRESH_AHEAD_MS) return stored.accessToken;
    return this.refresh(owner, stored.accessToken);
  }

  /**
   * Refreshes the user's token (ahead of expiry, or after the upstream refused `rejected`), one refresh at a time per
   * user and server across all instances. When the authorization server refuses the grant, the row is deleted: the user
   * is asked to consent again, and no one else is affected. When it cannot be reached or fails, the row is kept and
   * UpstreamTokenUnavailable is thrown: the request fails, the next one tries again.
   */
  refresh(owner: TokenOwner, rejected: string): Promise<string | undefined> {
    const key = `${owner.sub}\u0000${owner.server}`;
    let running = this.#refreshing.get(key);
    if (!running) {
      running = this.#refresh(owner, rejected).finally(() => this.#refreshing.delete(key));
      this.#refreshing.set(key, running);
    }
    return running;
  }

  async #refresh(owner: TokenOwner, rejected: string): Promise<string | undefined> {
    const vault = this.#parts.vault;
    const stored = await this.#refreshOrWait(owner, rejected);
    if (stored === undefined || typeof stored === "string") return stored;
    if (!stored.refreshToken) return this.#forget(owner, "it has no refresh token");
    let tokens: OAuthTokens;
    try {
      const metadata = await this.#parts.discovery.metadataOf(stored.issuer);
      tokens = await refreshAuthorization(stored.issuer, {
        metadata,
        clientInformation: stored.client,
        refreshToken: stored.refreshToken,
        resource: stored.resource,
        fetchFn: authorizationServerFetch,
      });
    } catch (error) {
      if (refusesTheGrant(error)) return this.#forget(owner, `its refresh was refused (${(error as Error).message})`);
      await vault.endRefresh(owner);
      throw new UpstreamTokenUnavailable(owner.server, error);
    }
    const renewed = connectionOf({ refresh_token: stored.refreshToken, ...tokens }, stored);
    await vault.put(owner, renewed);
    return renewed.accessToken;
  }

  /**
   * Takes the row's refresh mark (then answers the stored connection, to be refreshed by the caller), or waits while
   * another instance holds it and answers the token it stored. Undefined: no row (consent is needed).
   */
  async #refreshOrWait(owner: TokenOwner, rejected: string): Promise<StoredConnection | string | undefined> {
    const vault = this.#parts.vault;
    const giveUpAt = Date.now() + REFRESH_WAIT_MS;
    for (;;) {
      const stored = await vault.get(owner);
      if (!stored) return undefined;
      // Another instance refreshed meanwhile: its token is the one to use.
      if (stored.accessToken !== rejected && (stored.expiresAt ?? Number.POSITIVE_INFINITY) - Date.now() > REFRESH_AHEAD_MS)
        return stored.accessToken;
      if (await vault.beginRefresh(owner, REFRESH_LEASE_MS)) {
        // Read again under the mark: the other instance may have stored its tokens between the read and the mark.
        const current = await vault.get(owner);
        if (current?.accessToken === stored.accessToken) return current;
        await vault.endRefresh(owner);
        continue;
      }
      if (Date.now() > giveUpAt) {
        throw new UpstreamTokenUnavailable(
          owner.server,
          new Error("another origin instance is renewing it and has not finished"),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, REFRESH_POLL_MS));
    }
  }

  async #forget(owner: TokenOwner, why: string): Promise<undefined> {
    await this.#parts.vault.revoke({ sub: owner.sub }, owner.server);
    this.#parts.log(
      `upstream OAuth: a user's token for server "${owner.server}" was dropped because ${why}; they will be asked to consent again`,
    );
    return undefined;
  }
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
      `the authorization server of server "${server}" could not renew your token just now (${(cause as Error)?.message ?? String(cause)}); your connection is kept: try again shortly`,
      { cause },
    );
    this.name = "UpstreamTokenUnavailable";
  }
}

const clientOf = (client: OAuthClientInformationMixed) =>
  client.client_secret === undefined
    ? { client_id: client.client_id }
    : { client_id: client.client_id, client_secret: client.client_secret };

function connectionOf(tokens: OAuthTokens, origin: Pick<StoredConnection, "client" | "issuer" | "resource">): StoredConnection {
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
