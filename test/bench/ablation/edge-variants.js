// The edge with parts switched off, one at a time, for test/bench/ablate.ts (never deployed; bench only).
// Plain JavaScript so that the Node-side typecheck does not take in the Worker's types; it imports the product's
// own modules unchanged and only composes them differently. A request to /v/<variant>/mcp/<server> is served
// as the product edge would serve /mcp/<server> at PUBLIC_URL, with the parts named in <variant> (joined by +)
// changed:
//   product        the product edge as it is (same code as `npm start`)
//   no-queue       AUDIT_QUEUE.send does nothing (the audit event is still built: tee, SSE parse)
//   kv-cached      OAUTH_KV reads answered from an isolate Map after the first (token crypto still per request)
//   token-cached   a validated token is kept in the isolate for 30 s: no KV read, no crypto per request
//   minimal        token-cached, then only sign the assertion and fetch the origin: no inspection, no audit
import { OAuthResourceServer } from "@cloudflare/workers-oauth-provider";
import { edgeOAuth } from "../../../worker/auth/authorization-server.ts";
import { MCP_SCOPE } from "../../../worker/auth/grantable-scopes.ts";
import { edgeConfig, mcpResource } from "../../../worker/config.ts";
import product from "../../../worker/index.ts";
import { handleMcp } from "../../../worker/mcp/handler.ts";
import { headersToClient, headersToOrigin } from "../../../worker/mcp/relay-headers.ts";
import { originAffinity } from "../../../worker/upstream/affinity.ts";
import { fetchOrigin } from "../../../worker/upstream/fetch-origin.ts";

export { McpSession, OriginAffinity, RateLimiter } from "../../../worker/index.ts";

const kvCache = new Map();
const tokenCache = new Map();
const TOKEN_CACHE_MS = 30_000;

function cachingKv(kv) {
  return new Proxy(kv, {
    get(target, name) {
      if (name !== "get") return Reflect.get(target, name).bind(target);
      return async (key, options) => {
        const cacheKey = `${key} ${JSON.stringify(options ?? null)}`;
        if (!kvCache.has(cacheKey)) kvCache.set(cacheKey, await target.get(key, options));
        return kvCache.get(cacheKey);
      };
    },
  });
}

function envFor(env, parts) {
  const changed = { ...env };
  if (parts.has("no-queue")) changed.AUDIT_QUEUE = { send: async () => {}, sendBatch: async () => {} };
  if (parts.has("kv-cached")) changed.OAUTH_KV = cachingKv(env.OAUTH_KV);
  return changed;
}

/** The relay with nothing but what every request needs: the assertion and the origin fetch. */
async function minimalRelay(request, env, ctx) {
  const config = edgeConfig(env);
  const server = new URL(request.url).pathname.split("/")[2];
  const user = ctx.props;
  const claims = { sub: user.sub, email: user.email, groups: user.groups, client_id: ctx.auth.clientId ?? "unknown", server };
  const body = request.method === "POST" ? await request.text() : undefined;
  const response = await fetchOrigin(
    config,
    `/servers/${server}/mcp`,
    claims,
    { method: request.method, headers: headersToOrigin(request.headers), body, signal: request.signal },
    originAffinity(env),
  );
  return new Response(response.body, { status: response.status, headers: headersToClient(response.headers) });
}

const servers = new Map();
function cachedTokenServer(config, handler) {
  const key = `${handler === minimalRelay ? "minimal" : "handler"}`;
  let built = servers.get(key);
  if (built) return built;
  const { authorizationServer } = edgeOAuth(config);
  const umbrella = mcpResource(config);
  const validate = (env) => async (resource, token) => {
    const cached = tokenCache.get(`${resource} ${token}`);
    if (cached && Date.now() - cached.at < TOKEN_CACHE_MS) return cached.validation;
    let validation = await authorizationServer.validateToken(resource, token, env);
    if (!validation) {
      const umbrellaToken = await authorizationServer.validateToken(umbrella, token, env);
      validation = umbrellaToken && { ...umbrellaToken, audience: resource };
    }
    if (validation) tokenCache.set(`${resource} ${token}`, { validation, at: Date.now() });
    return validation;
  };
  built = (resource) =>
    new OAuthResourceServer({
      resourceMetadata: { resource, authorization_servers: [config.publicUrl], bearer_methods_supported: ["header"] },
      requiredScopes: [MCP_SCOPE],
      validateToken: validate,
      handler: { fetch: handler },
    });
  const perResource = new Map();
  const forResource = (resource) => {
    if (!perResource.has(resource)) perResource.set(resource, built(resource));
    return perResource.get(resource);
  };
  servers.set(key, forResource);
  return forResource;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const match = /^\/v\/([^/]+)(\/mcp\/.*)$/.exec(url.pathname);
    if (!match) return product.fetch(request, env, ctx);
    const parts = new Set(match[1].split("+"));
    const config = edgeConfig(env);
    const rewritten = new Request(`${config.publicUrl}${match[2]}${url.search}`, request);
    const changedEnv = envFor(env, parts);
    if (parts.has("token-cached") || parts.has("minimal")) {
      const forResource = cachedTokenServer(config, parts.has("minimal") ? minimalRelay : handleMcp);
      return forResource(`${config.publicUrl}${match[2]}`).fetch(rewritten, changedEnv, ctx);
    }
    return product.fetch(rewritten, changedEnv, ctx);
  },
  queue: product.queue,
};
