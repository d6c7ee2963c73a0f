import { Hono } from "hono";
import type pg from "pg";
import type { Policy } from "../../contract/config/policy.ts";
import { ORIGIN_AFFINITY_COOKIE, ORIGIN_INSTANCE_HEADER } from "../../contract/origin-affinity.ts";
import { reportLeftOut } from "./aggregate/left-out.ts";
import { type AggregateOptions, serveAggregate } from "./aggregate/serve-aggregate.ts";
import { registerAuditIngestRoute } from "./audit/ingest-route.ts";
import { registerAuditSearchRoute } from "./audit/search-route.ts";
import type { AuditStore } from "./audit/store.ts";
import { isDatabaseUnavailable } from "./db/unavailable.ts";
import { DatabaseNotAnswering } from "./health/database-probe.ts";
import type { HostPool } from "./hosting/host-pool.ts";
import { ListenShares } from "./hosting/listen-shares.ts";
import { serveMcp } from "./hosting/mcp-route.ts";
import { registerWarmRoute } from "./hosting/warm-route.ts";
import type { GroupLookUp } from "./identity/google/google-groups.ts";
import { registerGroupsRoute } from "./identity/groups-route.ts";
import { UPSTREAM_JWKS_PATH } from "./identity/upstream-identity.ts";
import type { OriginMetrics } from "./metrics/registry.ts";
import { METRICS_PATH, measureAggregatedRequests, measureMcpRequests, serveMetrics } from "./metrics/route.ts";
import { registerOpsConnectionsRoutes } from "./ops/connections-route.ts";
import { registerOpsDryRunRoute } from "./ops/dry-run-route.ts";
import { opsOnly } from "./ops/ops-only.ts";
import { registerOpsPinsRoutes } from "./ops/pins-route.ts";
import { registerOpsStatsRoute } from "./ops/stats-route.ts";
import { EdgeKeySetUnavailable } from "./trust/jwks.ts";
import { type AssertionVariables, requireAssertion } from "./trust/require-assertion.ts";
import type { VerifiedAssertion } from "./trust/verify-assertion.ts";
import { registerUpstreamOAuthRoute } from "./upstream-auth/complete-route.ts";
import type { UpstreamOAuth } from "./upstream-auth/upstream-oauth.ts";

/** The status of an assertion bound to another instance (the edge then sends the request again, bound to this one). */
const MISDIRECTED = 421;

/** What a client is told to wait before retrying while the database is unavailable. */
const DATABASE_RETRY_AFTER_SECONDS = 5;

/** ... and while the edge's key set cannot be read (each request then tries to fetch it again: no need to hurry). */
const KEY_SET_RETRY_AFTER_SECONDS = 10;

export interface OriginParts {
  verifyAssertion: (token: string | undefined) => Promise<VerifiedAssertion>;
  pool: HostPool;
  /** Where audit events are stored; its `insertWith` serves the operator routes, registered only with a database. */
  auditStore: Pick<AuditStore, "insert" | "insertWith">;
  /** This instance's name, for the balancer's stickiness (see contract/origin-affinity.ts). */
  instanceId: string;
  /** The public keys HTTP upstreams verify the origin's identity tokens with. */
  upstreamJwks: () => object;
  /** Resolves when the database answers; rejects otherwise (DatabaseNotAnswering: not within the readiness bound). */
  checkDatabase: () => Promise<void>;
  /** Why the edge's key set could not be read the last time it was fetched (absent: it was, or it is not fetched). */
  edgeKeysUnreadable?: () => string | undefined;
  /** The audit database, searched at GET /audit/events (the route is absent without it). */
  auditDatabase?: pg.Pool;
  /** Prometheus metrics, served at GET /metrics behind the assertion (the route is absent without them). */
  metrics?: OriginMetrics;
  /** Google Workspace groups, served to the edge at GET /identity/groups (which answers 404 without it). */
  groups?: GroupLookUp;
  /** Who may use which servers and tools; absent: everyone everything. */
  policy?: Policy;
  /** Users' OAuth client toward OAuth-protected upstreams: completes consents at POST /upstream-oauth/complete. */
  upstreamOAuth?: UpstreamOAuth;
  /** The most listens one user holds open on one server (`relay.listensPerUser`). */
  listensPerUser: number;
  /** The aggregated endpoint `/mcp`: the configured servers in list order, and its time limits. */
  aggregate?: { servers: readonly string[]; upstreamTimeoutMs: number; keepAliveMs: number };
}

/**
 * The origin's HTTP surface. Open: the health probes (the ALB needs them) and the upstream identity key set
 * (/.well-known/jwks.json: public keys, which HTTP upstreams fetch to verify the identity the origin sends them);
 * every other route sits behind the edge assertion.
 */
export function createOriginApp(parts: OriginParts) {
  const app = new Hono<{ Variables: AssertionVariables }>();

  // Every answer, errors included, names the instance: an answer without the name came from the balancer, so
  // only then does the edge conclude that the user's instance is lost.
  app.use("*", async (c, next) => {
    await next();
    c.res.headers.set(ORIGIN_INSTANCE_HEADER, parts.instanceId);
    // Refused as bound to another instance: the user is on this one now, and the balancer is to keep them here.
    if (c.res.status === MISDIRECTED) c.res.headers.append("set-cookie", affinityCookie(parts.instanceId));
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // Ready when a request could be served: the database answers and the edge's assertions can be checked.
  app.get("/readyz", async (c) => {
    const database = await parts.checkDatabase().then(
      () => undefined,
      (error: unknown) => (error instanceof DatabaseNotAnswering ? error.message : "unreachable"),
    );
    const edgeKeys = parts.edgeKeysUnreadable?.();
    if (!database && !edgeKeys) return c.json({ status: "ready" });
    return c.json({ status: "not ready", ...(database && { database }), ...(edgeKeys && { edgeKeys }) }, 503);
  });

  // Public keys: an upstream inside the VPC fetches them to verify the identity tokens it receives.
  app.get(UPSTREAM_JWKS_PATH, (c) => c.json(parts.upstreamJwks(), 200, { "cache-control": "public, max-age=300" }));

  const guarded = requireAssertion(parts.verifyAssertion, parts.metrics?.assertionRefused);
  if (parts.metrics) app.get(METRICS_PATH, guarded, opsOnly("metrics"), serveMetrics(parts.metrics));

  registerAuditIngestRoute(app, guarded, parts.auditStore, parts.metrics?.audit);
  registerAuditSearchRoute(app, guarded, parts.auditDatabase, (event) => parts.auditStore.insert([event]));
  registerOpsStatsRoute(app, guarded, parts.auditDatabase);
  registerOpsPinsRoutes(app, guarded, { db: parts.auditDatabase, audit: parts.auditStore });
  registerOpsConnectionsRoutes(app, guarded, { db: parts.auditDatabase, audit: parts.auditStore });
  registerOpsDryRunRoute(app, guarded, {
    db: parts.auditDatabase,
    policy: parts.policy,
    servers: parts.aggregate?.servers,
    directory: parts.groups,
  });
  registerGroupsRoute(app, guarded, parts.groups);
  registerUpstreamOAuthRoute(app, guarded, parts.upstreamOAuth, (line) => console.warn(line));

  if (parts.metrics) app.use("/servers/:server/mcp", measureMcpRequests(parts.metrics.requests));
  const listens = new ListenShares(parts.listensPerUser);
  app.all("/servers/:server/mcp", guarded, async (c) => {
    const response = await serveMcp(parts.pool, c.req.param("server"), c.var.assertion, c.req.raw, parts.policy, {
      listens,
    });
    return withAffinityCookie(response, parts.instanceId);
  });

  registerWarmRoute(app, guarded, {
    pool: parts.pool,
    policy: parts.policy,
    affinityCookie: affinityCookie(parts.instanceId),
    log: (line) => console.warn(line),
  });

  if (parts.aggregate) {
    const aggregate: AggregateOptions = {
      ...parts.aggregate,
      policy: parts.policy,
      askServer: (server, assertion, request) =>
        serveMcp(parts.pool, server, assertion, request, parts.policy, { aggregated: true, listens }),
      leftOut: reportLeftOut(parts.auditStore, console.warn),
    };
    // Counted under server="*" (AGGREGATED): the endpoint README and the client set-up steer users to.
    if (parts.metrics) app.use("/mcp", measureAggregatedRequests(parts.metrics.requests));
    app.all("/mcp", guarded, async (c) =>
      withAffinityCookie(await serveAggregate(aggregate, c.var.assertion, c.req.raw), parts.instanceId),
    );
  }

  app.notFound((c) => c.json({ error: "not_found" }, 404));
  app.onError((error, c) => {
    const unavailable = (code: string, message: string, retryAfterSeconds: number) => {
      const body = isMcpPath(c.req.path)
        ? { jsonrpc: "2.0", id: null, error: { code: -32000, message } }
        : { error: code, message };
      return c.json(body, 503, { "retry-after": String(retryAfterSeconds) });
    };
    if (isDatabaseUnavailable(error)) {
      // The replay guard and the audit store need the database: without it, refuse cleanly and say when to retry.
      console.error(`database unavailable on ${c.req.method} ${c.req.path}: ${String(error)}`);
      return unavailable(
        "database_unavailable",
        "the origin's database is unavailable; retry shortly",
        DATABASE_RETRY_AFTER_SECONDS,
      );
    }
    // Logged by the assertion gate; the caller learns only that the origin cannot check requests just now.
    if (error instanceof EdgeKeySetUnavailable)
      return unavailable(
        "edge_keys_unavailable",
        "the origin cannot check the edge's requests just now; retry shortly",
        KEY_SET_RETRY_AFTER_SECONDS,
      );
    console.error(`origin error on ${c.req.method} ${c.req.path}: ${error.stack ?? String(error)}`);
    if (isMcpPath(c.req.path))
      return c.json({ jsonrpc: "2.0", id: null, error: { code: -32603, message: "internal error of the origin" } }, 500);
    return c.json({ error: "internal_error" }, 500);
  });
  return app;
}

/** An MCP endpoint (a server's, or the aggregated one), whose clients read only JSON-RPC: its refusals are JSON-RPC too. */
const isMcpPath = (path: string) => path === "/mcp" || path.startsWith("/servers/");

/**
 * Every MCP answer sets the application cookie the balancer's stickiness keys on. The answers are built here, not
 * fetched, so their headers can take it in place: the body is never re-wrapped.
 */
function withAffinityCookie(response: Response, instanceId: string): Response {
  response.headers.append("set-cookie", affinityCookie(instanceId));
  return response;
}

const affinityCookie = (instanceId: string) =>
  `${ORIGIN_AFFINITY_COOKIE}=${instanceId}; Path=/; HttpOnly; Secure; SameSite=Strict`;
