import {
  type OAuthAuthorizationServer,
  OAuthResourceServer,
  type OAuthResourceTokenValidator,
} from "@cloudflare/workers-oauth-provider";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import { markedAsHandled } from "../audit/refusals.ts";
import { mcpResource, serverResource } from "../config.ts";
import type { EdgeEnv, UserProps } from "../env.ts";
import { handleMcp } from "../mcp/handler.ts";
import { serverSegment } from "../mcp/server-path.ts";
import { opsResource } from "../ops/paths.ts";
import { GuardedAuthorizationServer } from "./cimd/guarded-authorization-server.ts";
import { GRANTABLE_SCOPES, MCP_SCOPE } from "./grantable-scopes.ts";
import { refreshedGrant } from "./groups/refreshed-grant.ts";
import { registrationPolicy } from "./registration-policy.ts";
import { cacheValidations, forgetValidatedTokens } from "./token-cache.ts";
import { markedRefusal } from "./token-refusals.ts";

export const AUTHORIZE_PATH = "/authorize";
export const IDP_CALLBACK_PATH = "/callback";
export const REGISTER_PATH = "/register";
export const TOKEN_PATH = "/oauth/token";

/** A grant (and its refresh tokens) lives 30 days from sign-in however often it is refreshed (the library's default, stated). */
export const REFRESH_TOKEN_TTL_SECONDS = 30 * 86_400;

export interface EdgeOAuth {
  authorizationServer: OAuthAuthorizationServer<EdgeEnv>;
  /** The umbrella resource `/mcp`. */
  mcpResourceServer: OAuthResourceServer<EdgeEnv, UserProps>;
  /** One resource per upstream server, `/mcp/<server>`, by server name. */
  serverResourceServers: ReadonlyMap<string, OAuthResourceServer<EdgeEnv, UserProps>>;
}

// Built once per configuration: the library fixes issuer and resources at construction.
const cache = new WeakMap<EdgeConfig, EdgeOAuth>();

/**
 * The edge is the authorization server MCP clients see (the identity provider is only the sign-in step
 * behind /authorize) and the protected resources: `<publicUrl>/mcp`, and `<publicUrl>/mcp/<server>` for
 * each upstream, so that each server's metadata names exactly the URL a client connects to.
 */
export function edgeOAuth(config: EdgeConfig): EdgeOAuth {
  const cached = cache.get(config);
  if (cached) return cached;
  const umbrella = mcpResource(config);
  // The token endpoint refuses CIMD URLs on local or private hosts before the library would fetch them (SSRF).
  const authorizationServer = new GuardedAuthorizationServer(config.oauth.cimdAllowedHosts, {
    issuer: config.publicUrl,
    // The ops dashboard is a resource of its own: its tokens open nothing else, and no MCP client's token opens it.
    resources: [umbrella, opsResource(config), ...config.servers.map((server) => serverResource(config, server))],
    // Some clients (Claude Code among them) send no `resource`: they get the umbrella, good for every server.
    defaultResource: umbrella,
    authorizeEndpoint: `${config.publicUrl}${AUTHORIZE_PATH}`,
    tokenEndpoint: `${config.publicUrl}${TOKEN_PATH}`,
    clientRegistrationEndpoint: `${config.publicUrl}${REGISTER_PATH}`,
    clientRegistrationCallback: registrationPolicy,
    // Each refresh reads the user's groups again and keeps `mcp:admin` only for admin groups (worker/auth/groups/).
    tokenExchangeCallback: refreshedGrant,
    // Client ID Metadata Documents (an https client_id naming the client's own document), preferred by the MCP
    // 2025-11-25 specification; DCR above stays for older clients. Needs `global_fetch_strictly_public` (wrangler.toml).
    clientIdMetadataDocumentEnabled: true,
    // Unused registrations expire; each token request renews one in use (the library's sliding TTL).
    clientRegistrationTTL: config.oauth.registrationUnusedDays * 86_400,
    scopesSupported: [...GRANTABLE_SCOPES],
    accessTokenTTL: config.accessTokenTtlSeconds,
    refreshTokenTTL: REFRESH_TOKEN_TTL_SECONDS,
    // Native apps sign in through their own URI scheme (Cursor: cursor://anysphere.cursor-mcp/oauth/callback).
    // Still an exact match with a registered URI, PKCE still required; the library refuses javascript:, data:, file:.
    allowPrivateUseRedirectUris: true,
    onError: (error) => {
      const { code, status, internal } = error;
      // The wire answer stays generic (RFC 6749); the log names the check that failed.
      console.warn(`oauth ${status} ${code}: ${internal?.category ?? "unknown"}/${internal?.reason ?? "unknown"}`);
      // A replayed code makes the library revoke its grant (RFC 6749 §4.1.2): like every revocation this isolate
      // handles, it takes effect here at once, not after the token cache's window (a stolen code's tokens die now).
      if (internal?.reason === "code_replayed") forgetValidatedTokens();
      // A refused code, refresh token or client is marked with that check, for the token endpoint to audit.
      return markedRefusal(error);
    },
  });

  const resourceServer = (resource: string, validateToken: (env: EdgeEnv) => OAuthResourceTokenValidator<UserProps>) =>
    new OAuthResourceServer<EdgeEnv, UserProps>({
      resourceMetadata: {
        resource,
        authorization_servers: [config.publicUrl],
        bearer_methods_supported: ["header"],
        resource_name: "MCP edge proxy",
      },
      requiredScopes: [MCP_SCOPE],
      validateToken,
      handler: { fetch: async (request, env, ctx) => markedAsHandled(await handleMcp(request, env, ctx)) },
    });
  // Each resource's validations are remembered per isolate for `tokenCacheSeconds` (the revocation window).
  const remembered = (validate: OAuthResourceTokenValidator<UserProps>) => cacheValidations(validate, config.tokenCacheSeconds);
  const exactly = (env: EdgeEnv) =>
    remembered((resource, token) => authorizationServer.validateToken<UserProps>(resource, token, env));
  // A server accepts its own tokens and the umbrella's (RFC 8707 audiences: /mcp covers what lies beneath it).
  // Both are looked up at once: an umbrella token (what clients that send no `resource` hold) then costs one
  // round of look-ups, not two in a row, and only on its first request in an isolate.
  const serverOrUmbrella = (env: EdgeEnv) =>
    remembered(async (resource, token) => {
      const [own, umbrellaToken] = await Promise.all([
        authorizationServer.validateToken<UserProps>(resource, token, env),
        authorizationServer.validateToken<UserProps>(umbrella, token, env),
      ]);
      if (own) return own;
      return umbrellaToken && { ...umbrellaToken, audience: resource };
    });

  const built: EdgeOAuth = {
    authorizationServer,
    mcpResourceServer: resourceServer(umbrella, exactly),
    serverResourceServers: new Map(
      config.servers.map((server) => [server, resourceServer(serverResource(config, server), serverOrUmbrella)]),
    ),
  };
  cache.set(config, built);
  return built;
}

/** The resource server for a request path: a configured server's own, else the umbrella (which answers unknown paths). */
export function resourceServerFor(oauth: EdgeOAuth, pathname: string): OAuthResourceServer<EdgeEnv, UserProps> {
  const server = serverSegment(pathname);
  return (server && oauth.serverResourceServers.get(server)) || oauth.mcpResourceServer;
}
