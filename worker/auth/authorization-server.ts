import { OAuthAuthorizationServer, OAuthResourceServer } from "@cloudflare/workers-oauth-provider";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import { mcpResource } from "../config.ts";
import type { EdgeEnv, UserProps } from "../env.ts";
import { handleMcp } from "../mcp/handler.ts";

/** The scope every MCP client asks for first; finer scopes arrive with per-tool policy. */
export const MCP_SCOPE = "mcp";

export const AUTHORIZE_PATH = "/authorize";
export const IDP_CALLBACK_PATH = "/callback";
export const REGISTER_PATH = "/register";

export interface EdgeOAuth {
  authorizationServer: OAuthAuthorizationServer<EdgeEnv>;
  mcpResourceServer: OAuthResourceServer<EdgeEnv, UserProps>;
}

// Built once per configuration: the library fixes issuer and resources at construction.
const cache = new WeakMap<EdgeConfig, EdgeOAuth>();

/**
 * The edge is the authorization server MCP clients see (the identity provider is only the sign-in step
 * behind /authorize) and the protected resource `<publicUrl>/mcp`, which `/mcp/<server>` lies beneath.
 */
export function edgeOAuth(config: EdgeConfig): EdgeOAuth {
  const cached = cache.get(config);
  if (cached) return cached;
  const resource = mcpResource(config);
  const authorizationServer = new OAuthAuthorizationServer<EdgeEnv>({
    issuer: config.publicUrl,
    resources: [resource],
    // Some clients (Claude Code among them) send no `resource`: they get the one resource there is.
    defaultResource: resource,
    authorizeEndpoint: `${config.publicUrl}${AUTHORIZE_PATH}`,
    clientRegistrationEndpoint: `${config.publicUrl}${REGISTER_PATH}`,
    scopesSupported: [MCP_SCOPE, "offline_access"],
    accessTokenTTL: config.accessTokenTtlSeconds,
    onError: ({ code, status, internal }) => {
      // The wire answer stays generic (RFC 6749); the log names the check that failed.
      console.warn(`oauth ${status} ${code}: ${internal?.category ?? "unknown"}/${internal?.reason ?? "unknown"}`);
    },
  });
  const mcpResourceServer = new OAuthResourceServer<EdgeEnv, UserProps>({
    resourceMetadata: {
      resource,
      authorization_servers: [config.publicUrl],
      bearer_methods_supported: ["header"],
      resource_name: "MCP edge proxy",
    },
    requiredScopes: [MCP_SCOPE],
    validateToken: (env) => (resourceId, token) => authorizationServer.validateToken(resourceId, token, env),
    handler: { fetch: handleMcp },
  });
  const built = { authorizationServer, mcpResourceServer };
  cache.set(config, built);
  return built;
}
