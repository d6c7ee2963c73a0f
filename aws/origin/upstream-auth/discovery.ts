import {
  type AuthorizationServerMetadata,
  checkResourceAllowed,
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  type OAuthProtectedResourceMetadata,
  resourceUrlFromServerUrl,
} from "@modelcontextprotocol/client";
import type { HttpServer } from "../../../contract/config/schema.ts";
import { authorizationServerStep } from "./authorization-server-fetch.ts";
import { internalTargetGuard } from "./internal-targets.ts";

/** What a 401 from the upstream said (RFC 9728 / RFC 6750 `WWW-Authenticate`). */
export interface Challenge {
  resourceMetadataUrl?: URL;
  scope?: string;
}

/** Where and how to ask for a server's tokens. */
export interface AuthorizationTarget {
  issuer: string;
  metadata: AuthorizationServerMetadata;
  /** The resource indicator (RFC 8707): the protected resource's own, checked against the server's URL. */
  resource: string;
  /** The scopes to ask for: configured, else the challenge's, else the protected resource's. */
  scope?: string;
}

/** Metadata changes rarely: looked up again after this long, or after a failure. */
const DISCOVERY_TTL_MS = 10 * 60_000;

/**
 * RFC 9728 protected-resource discovery (from the 401's `resource_metadata`, else the well-known paths) and RFC 8414 /
 * OpenID metadata of its authorization server, through the MCP SDK's helpers; remembered per server for a while.
 */
export class AuthorizationDiscovery {
  readonly #cache = new Map<string, { target: AuthorizationTarget; until: number }>();

  async target(server: string, spec: HttpServer, challenge?: Challenge): Promise<AuthorizationTarget> {
    const cached = this.#cache.get(server);
    if (cached && cached.until > Date.now() && !challenge?.resourceMetadataUrl) return withScope(cached.target, spec, challenge);
    const target = await discover(spec, challenge);
    this.#cache.set(server, { target, until: Date.now() + DISCOVERY_TTL_MS });
    return withScope(target, spec, challenge);
  }

  /** The metadata of an issuer a stored token came from (for its refresh). */
  async metadataOf(issuer: string): Promise<AuthorizationServerMetadata> {
    for (const { target } of this.#cache.values()) if (target.issuer === issuer) return target.metadata;
    const metadata = await discoverAuthorizationServerMetadata(issuer, { fetchFn: authorizationServerStep(issuer) });
    if (!metadata) throw new Error(`the authorization server ${issuer} publishes no metadata (RFC 8414 or OpenID discovery)`);
    await refuseInternalEndpoints(issuer, metadata);
    return metadata;
  }
}

async function discover(spec: HttpServer, challenge?: Challenge): Promise<AuthorizationTarget> {
  const resourceMetadata = await protectedResourceMetadata(spec, challenge);
  // A configured authorization server is trusted as configuration is; one the upstream names is asked only where the
  // upstream itself could reach (the step checks every address against the upstream's).
  const configured = spec.oauth?.authorizationServer;
  const issuer = configured ?? resourceMetadata?.authorization_servers?.[0] ?? String(new URL("/", spec.url));
  requireHttpsIssuer(spec.url, issuer);
  const metadata = await discoverAuthorizationServerMetadata(issuer, {
    fetchFn: authorizationServerStep(configured ?? spec.url),
  });
  if (!metadata) {
    throw new Error(
      `the authorization server ${issuer} of ${spec.url} publishes no metadata (RFC 8414 or OpenID discovery); set oauth.authorizationServer if the server names the wrong one`,
    );
  }
  if (!metadata.code_challenge_methods_supported?.includes("S256")) {
    throw new Error(`the authorization server ${issuer} does not support PKCE S256, which the origin requires`);
  }
  await refuseInternalEndpoints(configured ?? spec.url, metadata);
  const declared = resourceMetadata?.resource;
  if (declared && !checkResourceAllowed({ requestedResource: spec.url, configuredResource: declared })) {
    throw new Error(
      `the protected-resource metadata of ${spec.url} names another resource (${declared}); refusing its authorization server`,
    );
  }
  return {
    issuer: metadata.issuer,
    metadata,
    resource: declared ?? resourceUrlFromServerUrl(spec.url).href,
    scope: resourceMetadata?.scopes_supported?.join(" "),
  };
}

/** RFC 9728 metadata of the server, if it publishes any (a server without it is asked at its origin's root). */
async function protectedResourceMetadata(
  spec: HttpServer,
  challenge?: Challenge,
): Promise<OAuthProtectedResourceMetadata | undefined> {
  const options = { resourceMetadataUrl: onServersOrigin(spec, challenge?.resourceMetadataUrl) };
  try {
    return await discoverOAuthProtectedResourceMetadata(spec.url, options, authorizationServerStep(spec.url));
  } catch (error) {
    if (error instanceof TypeError) throw error;
    return undefined;
  }
}

/**
 * The endpoints the origin itself sends to (codes, refresh tokens, registrations): no further in than `reference`,
 * checked now so that no user is sent to consent for a server whose token endpoint would be refused after (each
 * request is checked again when it is made).
 */
async function refuseInternalEndpoints(reference: string, metadata: AuthorizationServerMetadata): Promise<void> {
  const endpoints = { token_endpoint: metadata.token_endpoint, registration_endpoint: metadata.registration_endpoint };
  const refuseInternal = internalTargetGuard(reference);
  for (const [name, url] of Object.entries(endpoints)) if (url) await refuseInternal(url, `the ${name} of ${metadata.issuer}`);
}

/**
 * The `resource_metadata` URL of an upstream's 401, when it is on the server's own origin; else none (the well-known
 * paths are read instead). The origin follows it from inside the VPC: a URL elsewhere would let an upstream send the
 * origin's requests to any address there.
 */
function onServersOrigin(spec: HttpServer, url: URL | undefined): URL | undefined {
  return url && url.origin === new URL(spec.url).origin ? url : undefined;
}

/** An https server's authorization server must be https too: users' codes and tokens never travel in the clear. */
export function requireHttpsIssuer(serverUrl: string, issuer: string): void {
  if (new URL(serverUrl).protocol === "https:" && new URL(issuer).protocol !== "https:")
    throw new Error(
      `the authorization server ${issuer} of ${serverUrl} is not https; the origin sends users' codes only over https`,
    );
}

function withScope(target: AuthorizationTarget, spec: HttpServer, challenge?: Challenge): AuthorizationTarget {
  const configured = spec.oauth?.scopes.join(" ");
  return { ...target, scope: configured || challenge?.scope || target.scope };
}
