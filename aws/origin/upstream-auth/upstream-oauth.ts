import { randomBytes } from "node:crypto";
import { exchangeAuthorization, type OAuthClientInformationMixed, startAuthorization } from "@modelcontextprotocol/client";
import type { HttpServer } from "../../../contract/config/schema.ts";
import type { UpstreamOAuthOutcome, UpstreamOAuthReturn } from "../../../contract/upstream-oauth.ts";
import { sealedUnderAnotherKey } from "../vault/envelope.ts";
import type { TokenOwner, TokenVault } from "../vault/token-vault.ts";
import { authorizationServerStep } from "./authorization-server-fetch.ts";
import { authorizationServerWords } from "./authorization-server-words.ts";
import { type ClientRegistrations, refusesTheClient } from "./client-registration.ts";
import type { AuthorizationDiscovery, Challenge } from "./discovery.ts";
import { PENDING_TTL_MS, type PendingAuthorizations } from "./pending-authorizations.ts";
import { connectionOf, isFresh, refreshToken } from "./token-refresh.ts";

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

  /**
   * Begins a consent for this user and server: the URL to send the user's browser to. A failure is told to the user
   * without its detail (an authorization server's answer may echo anything); the origin's log has it.
   */
  async begin(owner: TokenOwner, spec: HttpServer, challenge?: Challenge): Promise<URL> {
    try {
      return await this.#begin(owner, spec, challenge);
    } catch (error) {
      this.#parts.log(
        `upstream OAuth: a consent for server "${owner.server}" could not begin: ${authorizationServerWords(error)}`,
      );
      throw new Error(
        `server "${owner.server}" cannot be connected to just now: its authorization server could not be reached or refused the origin (the origin's log says why)`,
      );
    }
  }

  async #begin(owner: TokenOwner, spec: HttpServer, challenge?: Challenge): Promise<URL> {
    const target = await this.#parts.discovery.target(owner.server, spec, challenge);
    const client = await this.#parts.clients.clientFor(owner.server, spec, target.metadata);
    const state = randomBytes(32).toString("base64url");
    const redirectUri = this.#parts.clients.redirectUriOf(owner.server);
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
        message: `this link was used already or expired (links work once, for ${PENDING_TTL_MS / 60_000} minutes after the call that made them); call the tool again for a new one`,
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
    if (answer.server !== owner.server) {
      // Another server's authorization server sent the browser on (a mix-up attack), or a link was mangled: the code
      // is never sent anywhere, and the state is used up.
      this.#parts.log(
        `upstream OAuth: a consent for server "${owner.server}" came back to the callback of ${JSON.stringify(answer.server)}; refused (possible mix-up)`,
      );
      return {
        ok: false,
        message: `this sign-in came back for another server than the one it was made for ("${owner.server}"); nothing was connected. Call the tool again for a new link`,
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
      fetchFn: authorizationServerStep(pending.issuer),
    }).catch((error: unknown) => {
      if (refusesTheClient(error)) this.#parts.clients.forget(owner.server, pending.client.client_id);
      // Its answer may echo the request it refused: the code, the verifier and the client secret are known only here.
      const words = authorizationServerWords(error, [answer.code, pending.codeVerifier, pending.client.client_secret]);
      throw new Error(`exchanging the code at ${pending.issuer} for server "${owner.server}" failed: ${words}`);
    });
    await this.#parts.vault.put(owner, connectionOf(tokens, pending));
    this.#parts.log(`upstream OAuth: a user connected to server "${owner.server}"`);
    return { ok: true, server: owner.server, email: owner.email };
  }

  /** The user's access token for the server (refreshed first when about to expire); undefined: consent is needed. */
  async accessToken(owner: TokenOwner, spec: HttpServer): Promise<string | undefined> {
    const stored = await this.#parts.vault.get(owner).catch((error: unknown) => {
      if (!sealedUnderAnotherKey(error)) throw error;
      // Sealed under another vault key (one made per run, or changed since): the user consents again, which replaces it.
      this.#parts.log(
        `upstream OAuth: a user's stored connection to server "${owner.server}" does not open with this vault key (set the same upstreamVault key on every instance); they will be asked to consent again`,
      );
      return undefined;
    });
    if (!stored) return undefined;
    if (isFresh(stored)) return stored.accessToken;
    return this.refresh(owner, stored.accessToken, spec);
  }

  /**
   * Renews the user's token (ahead of expiry, or after the upstream refused `rejected`): see refreshToken. One refresh
   * at a time per user and server in this process, too: concurrent calls share it.
   */
  refresh(owner: TokenOwner, rejected: string, spec: HttpServer): Promise<string | undefined> {
    const key = `${owner.sub}\u0000${owner.server}`;
    let running = this.#refreshing.get(key);
    if (!running) {
      running = refreshToken(this.#parts, owner, rejected, spec).finally(() => this.#refreshing.delete(key));
      this.#refreshing.set(key, running);
    }
    return running;
  }
}

const clientOf = (client: OAuthClientInformationMixed) =>
  client.client_secret === undefined
    ? { client_id: client.client_id }
    : { client_id: client.client_id, client_secret: client.client_secret };
