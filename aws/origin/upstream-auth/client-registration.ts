import { type AuthorizationServerMetadata, type OAuthClientInformationMixed, registerClient } from "@modelcontextprotocol/client";
import type { HttpServer } from "../../../contract/config/schema.ts";
import type { SecretsProvider } from "../secrets/provider.ts";
import { authorizationServerFetch } from "./authorization-server-fetch.ts";

/** The origin as the OAuth client: its redirect URIs and Client ID Metadata Document, all at the edge's public URL. */
export interface ClientIdentity {
  /** Each server's own redirect URI (contract/upstream-oauth.ts `upstreamCallbackPath`: a mix-up defence). */
  redirectUriOf: (server: string) => string;
  /** Each server's own Client ID Metadata Document (`upstreamClientMetadataPath`: it names only that server's callback). */
  clientMetadataUrlOf: (server: string) => string;
  clientName: string;
}

/**
 * The client the origin authorizes as, per server's `oauth.registration`: our Client ID Metadata Document (its URL is
 * the client id), a dynamic registration (RFC 7591, made once per server and issuer in this process), or a static one.
 */
export class ClientRegistrations {
  readonly #identity: ClientIdentity;
  readonly #secrets: SecretsProvider;
  readonly #registered = new Map<string, Promise<OAuthClientInformationMixed>>();

  constructor(identity: ClientIdentity, secrets: SecretsProvider) {
    this.#identity = identity;
    this.#secrets = secrets;
  }

  redirectUriOf(server: string): string {
    return this.#identity.redirectUriOf(server);
  }

  async clientFor(server: string, spec: HttpServer, metadata: AuthorizationServerMetadata): Promise<OAuthClientInformationMixed> {
    const oauth = spec.oauth;
    if (!oauth) throw new Error(`server "${server}" has no oauth configuration`);
    if (oauth.registration === "static") {
      const clientId = await this.#value(oauth.clientId);
      const secret = oauth.clientSecret === undefined ? undefined : await this.#value(oauth.clientSecret);
      return secret === undefined ? { client_id: clientId } : { client_id: clientId, client_secret: secret };
    }
    if (oauth.registration === "cimd") {
      if (!metadata.client_id_metadata_document_supported) {
        throw new Error(
          `the authorization server ${metadata.issuer} of server "${server}" does not accept Client ID Metadata Documents; set oauth.registration to "dcr" or "static"`,
        );
      }
      return { client_id: this.#identity.clientMetadataUrlOf(server) };
    }
    const key = `${server}\u0000${metadata.issuer}`;
    let registration = this.#registered.get(key);
    if (!registration) {
      registration = this.#register(server, metadata);
      this.#registered.set(key, registration);
      registration.catch(() => this.#registered.delete(key));
    }
    return registration;
  }

  async #register(server: string, metadata: AuthorizationServerMetadata): Promise<OAuthClientInformationMixed> {
    if (!metadata.registration_endpoint) {
      throw new Error(
        `the authorization server ${metadata.issuer} of server "${server}" offers no dynamic registration; set oauth.registration to "cimd" or "static"`,
      );
    }
    return registerClient(metadata.issuer, {
      metadata,
      fetchFn: authorizationServerFetch,
      clientMetadata: {
        client_name: this.#identity.clientName,
        redirect_uris: [this.#identity.redirectUriOf(server)],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      },
    });
  }

  async #value(value: string | { secret: string } | undefined): Promise<string> {
    if (value === undefined) throw new Error("a static OAuth client needs oauth.clientId");
    return typeof value === "string" ? value : this.#secrets.get(value.secret);
  }
}
