import {
  type AuthorizationServerMetadata,
  type OAuthClientInformationMixed,
  OAuthError,
  OAuthErrorCode,
  registerClient,
} from "@modelcontextprotocol/client";
import type { HttpServer } from "../../../contract/config/schema.ts";
import type { SecretsProvider } from "../secrets/provider.ts";
import { authorizationServerStep } from "./authorization-server-fetch.ts";

/** The origin as the OAuth client: its redirect URIs and Client ID Metadata Document, all at the edge's public URL. */
export interface ClientIdentity {
  /** Each server's own redirect URI (contract/upstream-oauth.ts `upstreamCallbackPath`: a mix-up defence). */
  redirectUriOf: (server: string) => string;
  /** Each server's own Client ID Metadata Document (`upstreamClientMetadataPath`: it names only that server's callback). */
  clientMetadataUrlOf: (server: string) => string;
  clientName: string;
}

/**
 * A dynamic registration is made again this long before its `client_secret_expires_at`, so that no consent begins
 * with a client about to lapse.
 */
const REGISTRATION_RENEW_AHEAD_S = 60;
/**
 * The longest a dynamic registration is reused: an authorization server may delete clients without telling anyone
 * (a cleanup of unused ones, a reset), and its authorization page then shows an error the origin never sees. A new
 * registration a day bounds how long consents can fail that way; connections made earlier keep their own client.
 */
export const REGISTRATION_MAX_AGE_MS = 24 * 3600_000;

/** The token endpoint's answers (RFC 6749 §5.2) that say it no longer knows or accepts the client itself. */
export const refusesTheClient = (error: unknown): boolean =>
  error instanceof OAuthError &&
  (error.code === OAuthErrorCode.InvalidClient || error.code === OAuthErrorCode.UnauthorizedClient);

interface Registration {
  client: Promise<OAuthClientInformationMixed>;
  madeAt: number;
  /** The client once registered. */
  made?: OAuthClientInformationMixed;
  /** Refused by its authorization server (`forget`): never used again. */
  forgotten?: boolean;
}

/**
 * The client the origin authorizes as, per server's `oauth.registration`: our Client ID Metadata Document (its URL is
 * the client id), a dynamic registration (RFC 7591, made per server and issuer in this process and reused until it
 * expires, is refused, or is a day old), or a static one.
 */
export class ClientRegistrations {
  readonly #identity: ClientIdentity;
  readonly #secrets: SecretsProvider;
  readonly #registered = new Map<string, Registration>();
  readonly #now: () => number;

  constructor(identity: ClientIdentity, secrets: SecretsProvider, now: () => number = Date.now) {
    this.#identity = identity;
    this.#secrets = secrets;
    this.#now = now;
  }

  redirectUriOf(server: string): string {
    return this.#identity.redirectUriOf(server);
  }

  async clientFor(server: string, spec: HttpServer, metadata: AuthorizationServerMetadata): Promise<OAuthClientInformationMixed> {
    const oauth = spec.oauth;
    if (!oauth) throw new Error(`server "${server}" has no oauth configuration`);
    if (oauth.registration === "static") return this.#staticClient(oauth);
    if (oauth.registration === "cimd") {
      if (!metadata.client_id_metadata_document_supported) {
        throw new Error(
          `the authorization server ${metadata.issuer} of server "${server}" does not accept Client ID Metadata Documents; set oauth.registration to "dcr" or "static"`,
        );
      }
      return { client_id: this.#identity.clientMetadataUrlOf(server) };
    }
    const key = `${server}\u0000${metadata.issuer}`;
    const cached = this.#registered.get(key);
    if (cached) {
      const client = await cached.client; // a failed registration fails those waiting on it, and is dropped
      if (this.#usable(cached)) return client;
      const current = this.#registered.get(key);
      if (current && current !== cached) return current.client; // renewed by a concurrent consent
    }
    return this.#registerAs(key, server, metadata, cached);
  }

  /**
   * The client a stored connection renews with. A static client is the one configured now, not the connection's copy
   * from its consent: after its secret was rotated (and the old one revoked), renewals must carry the current one, or
   * every user would be sent through consent again. A connection made with another client (a dynamic registration, a
   * metadata document, a static client id changed since) renews with its own.
   */
  async forRenewal(spec: HttpServer, stored: OAuthClientInformationMixed): Promise<OAuthClientInformationMixed> {
    if (spec.oauth?.registration !== "static") return stored;
    const current = await this.#staticClient(spec.oauth);
    return current.client_id === stored.client_id ? current : stored;
  }

  /**
   * After the authorization server refused `used` as a client: the static client read again from the secrets provider
   * (its cache forgotten), if that gives another secret, to be tried once more; undefined when there is nothing else to
   * try. This instance may have read the secret before a rotation, and the old one may be revoked already.
   */
  async rereadAfterRefusal(
    spec: HttpServer,
    used: OAuthClientInformationMixed,
  ): Promise<OAuthClientInformationMixed | undefined> {
    const secret = spec.oauth?.registration === "static" ? spec.oauth.clientSecret : undefined;
    if (typeof secret !== "object") return undefined;
    this.#secrets.invalidate?.(secret.secret);
    const current = await this.forRenewal(spec, used);
    return current.client_secret !== used.client_secret ? current : undefined;
  }

  /**
   * Drops the dynamic registration `clientId` of `server` after its authorization server refused it
   * (`invalid_client`, `unauthorized_client`): the next consent registers anew instead of failing the same way.
   */
  forget(server: string, clientId: string): void {
    for (const [key, registration] of this.#registered) {
      if (!key.startsWith(`${server}\u0000`) || registration.made?.client_id !== clientId) continue;
      registration.forgotten = true;
      this.#registered.delete(key);
    }
  }

  #usable(registration: Registration): boolean {
    const client = registration.made;
    if (!client || this.#now() - registration.madeAt >= REGISTRATION_MAX_AGE_MS) return false;
    return this.#lastsBeyond(client, REGISTRATION_RENEW_AHEAD_S);
  }

  /** Whether the client's registration lasts more than `seconds` from now (RFC 7591 §3.2.1: 0 means it never expires). */
  #lastsBeyond(client: OAuthClientInformationMixed, seconds: number): boolean {
    const expiresAt = "client_secret_expires_at" in client ? client.client_secret_expires_at : undefined;
    return !expiresAt || expiresAt - seconds > this.#now() / 1000;
  }

  /**
   * Registers anew. When that fails and `previous` (renewed ahead of time: a day old, or near its expiry) is still
   * valid and was never refused, consents go on with it, and the next consent tries registering again.
   */
  #registerAs(
    key: string,
    server: string,
    metadata: AuthorizationServerMetadata,
    previous: Registration | undefined,
  ): Promise<OAuthClientInformationMixed> {
    const fallback = previous?.made && !previous.forgotten && this.#lastsBeyond(previous.made, 0) ? previous : undefined;
    const registered = this.#register(server, metadata).catch((error: unknown) => {
      if (!fallback?.made || fallback.forgotten) throw error;
      if (this.#registered.get(key) === registration) this.#registered.set(key, fallback);
      return fallback.made;
    });
    const registration: Registration = { client: registered, madeAt: this.#now() };
    this.#registered.set(key, registration);
    registration.client.then(
      (client) => {
        registration.made = client;
      },
      () => {
        if (this.#registered.get(key) === registration) this.#registered.delete(key);
      },
    );
    return registration.client;
  }

  async #register(server: string, metadata: AuthorizationServerMetadata): Promise<OAuthClientInformationMixed> {
    if (!metadata.registration_endpoint) {
      throw new Error(
        `the authorization server ${metadata.issuer} of server "${server}" offers no dynamic registration; set oauth.registration to "cimd" or "static"`,
      );
    }
    return registerClient(metadata.issuer, {
      metadata,
      fetchFn: authorizationServerStep(metadata.issuer),
      clientMetadata: {
        client_name: this.#identity.clientName,
        redirect_uris: [this.#identity.redirectUriOf(server)],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      },
    });
  }

  async #staticClient(oauth: NonNullable<HttpServer["oauth"]>): Promise<OAuthClientInformationMixed> {
    const clientId = await this.#value(oauth.clientId);
    const secret = oauth.clientSecret === undefined ? undefined : await this.#value(oauth.clientSecret);
    return secret === undefined ? { client_id: clientId } : { client_id: clientId, client_secret: secret };
  }

  async #value(value: string | { secret: string } | undefined): Promise<string> {
    if (value === undefined) throw new Error("a static OAuth client needs oauth.clientId");
    return typeof value === "string" ? value : this.#secrets.get(value.secret);
  }
}
