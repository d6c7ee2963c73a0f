import { Hono } from "hono";
import type { AuditEvent } from "../contract/audit-event.ts";
import { ConfigError } from "../contract/config/load.ts";
import { EDGE_JWKS_PATH } from "../contract/edge-assertion.ts";
import { deliverAuditBatch } from "./audit/deliver.ts";
import { auditRefusedRequest, auditRefusedToken, refusedByLibrary, withoutHandlerMark } from "./audit/refusals.ts";
import {
  AUTHORIZE_PATH,
  edgeOAuth,
  IDP_CALLBACK_PATH,
  REGISTER_PATH,
  resourceServerFor,
  TOKEN_PATH,
} from "./auth/authorization-server.ts";
import { decideConsent, showConsent } from "./auth/authorize.ts";
import { finishSignIn } from "./auth/callback.ts";
import { withBoundedBearer } from "./auth/key-bounds.ts";
import { handleRegistration } from "./auth/register-endpoint.ts";
import { handleTokenRequest } from "./auth/token-endpoint.ts";
import { edgeConfig } from "./config.ts";
import type { EdgeEnv } from "./env.ts";
import { forBrowsers } from "./mcp/browser-answers.ts";
import { refuseForeignOrigin } from "./mcp/origin-check.ts";
import { mcpRateLimited } from "./mcp/rate-limit.ts";
import { healthz, readyz } from "./ops/health.ts";
import { registerOpsRoutes } from "./ops/routes.ts";
import { registerOpsDryRunRoutes } from "./ops/trust/dry-run-routes.ts";
import { registerOpsPinsRoutes } from "./ops/trust/pins-routes.ts";
import { registerOpsSignInsRoutes } from "./ops/trust/sign-ins-routes.ts";
import { serveEdgeJwks } from "./upstream/jwks.ts";
import { registerUpstreamAuthRoutes } from "./upstream-auth/routes.ts";

const app = new Hono<{ Bindings: EdgeEnv }>();

app.get("/healthz", healthz);
app.get("/readyz", (c) => readyz(c.env));
app.get(EDGE_JWKS_PATH, (c) => serveEdgeJwks(c.env));

// The user-facing half of authorization: consent, then the identity provider, then back to the client.
app.get(AUTHORIZE_PATH, (c) => showConsent(c.req.raw, c.env));
app.post(AUTHORIZE_PATH, (c) => decideConsent(c.req.raw, c.env));
app.get(IDP_CALLBACK_PATH, (c) => finishSignIn(c.req.raw, c.env, c.executionCtx as ExecutionContext));
// The library's token and registration endpoints, behind the edge's limits and checks.
app.post(TOKEN_PATH, (c) => handleTokenRequest(c.req.raw, c.env, c.executionCtx as ExecutionContext));
app.post(REGISTER_PATH, (c) => handleRegistration(c.req.raw, c.env, c.executionCtx as ExecutionContext));

// The protected resource: its metadata, its 401 challenge, and MCP itself once the token checks out.
type ResourceContext = { req: { raw: Request; url: string }; env: EdgeEnv; executionCtx: unknown };
const mcpResource = async (c: ResourceContext, limitRefusalsByAddress = false) => {
  const started = Date.now();
  const ctx = c.executionCtx as ExecutionContext;
  const resourceServer = resourceServerFor(edgeOAuth(edgeConfig(c.env)), new URL(c.req.url).pathname);
  const response = await resourceServer.fetch(withBoundedBearer(c.req.raw), c.env, ctx);
  // Per client address only requests without a valid token count, and those of a foreign page (mcpEndpoint; colleagues
  // behind one NAT share an address; a signed-in user and each of their clients have limits of their own): a flood of
  // bad tokens is cut before each refusal is audited.
  const ip = c.req.raw.headers.get("cf-connecting-ip");
  if (limitRefusalsByAddress && response.status === 401 && refusedByLibrary(response) && ip) {
    const limited = await mcpRateLimited(c.env, ctx, { ip });
    if (limited) return limited;
  }
  // The library's refusals of the token only: the handler's own refusals are the MCP request's audit row.
  auditRefusedToken(c.req.raw, response, c.env, ctx, started);
  return forBrowsers(withoutHandlerMark(response));
};
// A browser page of another site never reaches MCP (DNS rebinding, cross-site requests): 403 before any token check.
const mcpEndpoint = async (c: ResourceContext) => {
  const refused = refuseForeignOrigin(c.req.raw, edgeConfig(c.env));
  if (!refused) return mcpResource(c, true);
  const ip = c.req.raw.headers.get("cf-connecting-ip");
  const limited = ip ? await mcpRateLimited(c.env, c.executionCtx as ExecutionContext, { ip }) : null;
  if (limited) return limited;
  auditRefusedRequest(c.req.raw, refused, c.env, c.executionCtx as ExecutionContext, Date.now());
  return refused;
};
app.all("/mcp", mcpEndpoint);
app.all("/mcp/*", mcpEndpoint);
// Clients that look for the metadata at the root (no resource_metadata in the challenge) get the same document.
app.on(["GET", "OPTIONS"], "/.well-known/oauth-protected-resource", (c) => {
  const config = edgeConfig(c.env);
  const pathAware = new Request(`${config.publicUrl}/.well-known/oauth-protected-resource/mcp`, c.req.raw);
  return edgeOAuth(config).mcpResourceServer.fetch(pathAware, c.env, c.executionCtx as ExecutionContext);
});
app.on(["GET", "OPTIONS"], "/.well-known/oauth-protected-resource/*", (c) => mcpResource(c));

// Upstream OAuth: the origin's Client ID Metadata Document, and the browser's return from an upstream's consent.
registerUpstreamAuthRoutes(app);

// The ops dashboard for holders of `mcp:admin`, signed in through the edge's own /authorize (worker/ops/).
registerOpsRoutes(app);
registerOpsPinsRoutes(app);
registerOpsDryRunRoutes(app);
registerOpsSignInsRoutes(app);

// Everything else the library serves: AS metadata, token, revocation, dynamic registration.
app.all("*", (c) => edgeOAuth(edgeConfig(c.env)).authorizationServer.fetch(c.req.raw, c.env, c.executionCtx as ExecutionContext));

app.onError((error) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
    return new Response("The edge is misconfigured; its logs name the setting to fix.\n", { status: 500 });
  }
  console.error(`unhandled error: ${error.stack ?? String(error)}`);
  return new Response("Internal error\n", { status: 500 });
});

export { AuditSpool } from "../durable-objects/audit-spool.ts";
export { GrantTurns } from "../durable-objects/grant-turns.ts";
export { McpSession } from "../durable-objects/mcp-session.ts";
export { OriginAffinity } from "../durable-objects/origin-affinity.ts";
export { RateLimiter } from "../durable-objects/rate-limiter.ts";
export { UserSessions } from "../durable-objects/user-sessions.ts";

export default {
  fetch: app.fetch,
  queue: deliverAuditBatch,
} satisfies ExportedHandler<EdgeEnv, AuditEvent>;
