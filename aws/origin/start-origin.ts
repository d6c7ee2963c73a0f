import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import { hostname } from "node:os";
import { createAdaptorServer } from "@hono/node-server";
import { ConfigError } from "../../contract/config/load.ts";
import type { OriginConfig } from "../../contract/config/schema.ts";
import { EDGE_JWKS_PATH } from "../../contract/edge-assertion.ts";
import { createOriginApp } from "./app.ts";
import { createCheckpointer } from "./audit/checkpoint/checkpointer.ts";
import { checkpointSignerFromConfig } from "./audit/checkpoint/from-config.ts";
import { ORIGIN_EVENTS_FLUSH_MS, originEventsOf } from "./audit/origin-events.ts";
import { auditRetention } from "./audit/retention.ts";
import { createAuditStore } from "./audit/store.ts";
import { checkDatabaseUrl, describeDatabaseError } from "./db/cli-database.ts";
import { ensureSchema } from "./db/ensure-schema.ts";
import { createPool } from "./db/pool.ts";
import { GuardrailChain, guardrailProblems } from "./guardrails/chain.ts";
import { coalescedProbe } from "./health/coalesced-probe.ts";
import { oneAtATime, probeDatabase } from "./health/database-probe.ts";
import { childUsersFromConfig } from "./hosting/child-users.ts";
import { missingCommands } from "./hosting/command-check.ts";
import { createHostPool } from "./hosting/host-pool.ts";
import { relayOptions } from "./hosting/relay-options.ts";
import type { AwsCredentialSource } from "./identity/google/aws-credentials.ts";
import { googleGroupLookUp } from "./identity/google/google-groups.ts";
import { listen } from "./listen.ts";
import { unpinnedResourceMetrics } from "./metrics/pins.ts";
import { createOriginMetrics } from "./metrics/registry.ts";
import { metricsOnlyApp } from "./metrics/route.ts";
import { originPins, PIN_POLL_MS } from "./pinning/origin-pins.ts";
import { ApprovalGate } from "./policy/approval-gate.ts";
import { CallLimits } from "./policy/call-limits.ts";
import { policyProblems } from "./policy/check-policy.ts";
import { passwordFromSecret } from "./secrets/aws/database-password.ts";
import { originOwnNameProblems } from "./secrets/secret-references.ts";
import { createBoundReplayGuard } from "./trust/bound-replay-guard.ts";
import { edgeKeys } from "./trust/jwks.ts";
import { claimOrRefuse, createReplayGuard } from "./trust/replay-guard.ts";
import { sharedEdgeKeys } from "./trust/shared-keys.ts";
import { createAssertionVerifier } from "./trust/verify-assertion.ts";
import { upstreamOAuthFromConfig } from "./upstream-auth/from-config.ts";
import { googleUserTokens } from "./upstream-credentials/google-user-tokens.ts";

export interface RunningOrigin {
  url: string;
  /** Where GET /metrics is served without an assertion, when `metrics.port` is set. */
  metricsUrl?: string;
  /** Upstream connections (stdio children and HTTP sessions) this instance holds now. */
  upstreams(): number;
  /** The process ids of its stdio children. */
  upstreamPids(): number[];
  /**
   * Stops: lets requests in flight finish, for at most `graceMs` when given (then cuts what is left: a client's listen
   * stream never finishes by itself), or cuts them at once (`abrupt`, as a crash would).
   */
  close(options?: { abrupt?: boolean; graceMs?: number }): Promise<void>;
}

/**
 * The origin's HTTP servers leave the global Request and Response as they are. @hono/node-server would otherwise put
 * its lightweight classes in their place, after which a fetched Response is no longer `instanceof Response`: the MCP
 * SDK's OAuth helpers tell an error answer that way, and would read every refused token refresh or code exchange as an
 * unparsable answer (so a revoked grant could not be told from an outage).
 */
const KEEP_WEB_GLOBALS = { overrideGlobalObjects: false } as const;
/**
 * How long the origin keeps an idle keep-alive connection open: longer than the ALB's idle timeout (`ALB_IDLE_TIMEOUT`
 * in aws/cdk/service/load-balancer.ts, 30 minutes), as AWS advises for targets. The ALB then closes idle connections
 * itself, and never sends a request down one the origin is closing at that moment: that answers 502, which the edge
 * reads as a lost instance, moving the user off theirs. Node's default is 5 s.
 */
export const ORIGIN_KEEP_ALIVE_MS = 31 * 60_000;
/**
 * How long requests in flight may finish after SIGTERM (aws/origin/main.ts) before the rest are cut: listen streams
 * never finish by themselves (their clients listen again through another instance). Well below ECS's stopTimeout (120 s,
 * aws/cdk/service/origin-service.ts), so that the origin still stops its children and flushes its checkpoints itself.
 */
export const ORIGIN_SHUTDOWN_GRACE_MS = 20_000;
/** How long a readiness answer is reused (the ALB probes every few seconds; anyone may call the edge's /readyz). */
const READINESS_FRESH_MS = 1000;

/**
 * Starts the origin: database (migrated, or checked current), assertion gate, stdio hosting, HTTP. Stops what it started if a later step fails.
 * `awsCredentials` replaces the AWS SDK's default chain for Google (the groups look-up and users' Google tokens; the local fakes' keys).
 * `portSetting` names what chooses the port where the origin's own settings do not (npm start's `ORIGIN_PORT`).
 */
export async function startOrigin(
  config: OriginConfig,
  log: (line: string) => void = console.log,
  options: { awsCredentials?: AwsCredentialSource; portSetting?: string } = {},
): Promise<RunningOrigin> {
  if (!config.databaseUrl) throw new Error("no database: set DATABASE_URL (npm start runs an embedded PostgreSQL for you)");
  const secret = config.databasePasswordSecret ? passwordFromSecret(config.databasePasswordSecret) : undefined;
  const database = { ...checkDatabaseUrl(config.databaseUrl), passwordFrom: secret?.from };
  const groups = config.google && googleGroupLookUp(config.google, options.awsCredentials);
  const problems = [
    ...policyProblems(config.policy, Object.keys(config.servers)),
    ...guardrailProblems(config.servers),
    ...originOwnNameProblems(config.servers),
  ];
  if (problems.length > 0) throw new ConfigError(problems);
  if (Object.keys(config.servers).length === 0)
    log(
      "no servers configured: every MCP request will be told its server does not exist (add them to `servers`: docs/configuration.md)",
    );
  for (const line of missingCommands(config.servers)) log(line);
  if (!config.policy) log("no policy configured: every signed-in user may use every server and tool (docs/policy.md)");
  const signer = await checkpointSignerFromConfig(config.audit.checkpoints, log);
  const db = createPool(config.databaseUrl, { max: config.databasePoolMax, password: secret?.password });
  const { everyRows, everySeconds } = config.audit.checkpoints;
  const checkpoints = createCheckpointer({ pool: db, signer, everyRows, everySeconds, log });
  const relay = await relayOptions(config, log);
  const metrics = createOriginMetrics({ servers: Object.keys(config.servers), database: db, defaultMetrics: true });
  const auditStore = createAuditStore(db, { onHead: checkpoints.noteHead });
  // Made here first, so that it logs to this log: the pins and the aggregate's left-out reports (app.ts, which finds it
  // by the store) record through the same writer, which close() flushes; an event it gives up on is counted.
  const originEvents = originEventsOf(auditStore, log, { lost: metrics.audit.lost });
  const pins = originPins(db, config, auditStore, log, unpinnedResourceMetrics(metrics.registry, Object.keys(config.servers)));
  // One record of single-use values for every instance sharing the database: edge assertions' jtis and the nonces
  // of approvals and counted calls, whose requestStates open on any instance holding the same REQUEST_STATE_KEY.
  const replayGuard = createReplayGuard(db);
  const claimNonce = claimOrRefuse(replayGuard.claim, log);
  const approvals = new ApprovalGate((event) => originEvents.record(event), claimNonce);
  const upstreamOAuth = upstreamOAuthFromConfig(config, db, relay.secrets, log);
  const guardrails = new Map(Object.entries(config.servers).map(([name, spec]) => [name, new GuardrailChain(spec.guardrails)]));
  const childUsers = await childUsersFromConfig(config.stdio.childUids, log);
  const stdio = createHostPool({
    servers: config.servers,
    idleTimeoutMs: config.stdio.idleTimeoutSeconds * 1000,
    maxProcesses: config.stdio.maxProcesses,
    breaker: { failures: config.relay.breakerFailures, openMs: config.relay.breakerOpenSeconds * 1000 },
    host: {
      ...relay,
      pins,
      guardrailsOf: (server) => guardrails.get(server),
      approvals,
      callLimits: new CallLimits(claimNonce),
      upstreamOAuth,
      googleTokens: config.google && googleUserTokens(config.google, options.awsCredentials),
      childUsers,
    },
    children: metrics.children,
    circuits: metrics.circuits,
    poolRefused: metrics.poolRefused,
    log,
  });
  const retention = auditRetention({ pool: db, retentionDays: config.audit.retentionDays, log });
  const boundReplayGuard = createBoundReplayGuard();
  const instanceId = instanceNameForThisRun(config.instanceId);
  const assertionKeys = config.edgeSharedKeys
    ? sharedEdgeKeys(config.edgeSharedKeys)
    : edgeKeys(config.edgeJwksUrl ?? `${config.edgeIssuer}${EDGE_JWKS_PATH}`, undefined, log);
  // A plain HTTP/1.1 server: the ALB speaks HTTP/1.1 to its targets.
  const server = createAdaptorServer({
    ...KEEP_WEB_GLOBALS,
    fetch: createOriginApp({
      verifyAssertion: createAssertionVerifier({
        issuer: config.edgeIssuer,
        audience: config.publicUrl,
        keys: assertionKeys,
        claimJti: replayGuard.claim,
        bound: { instance: instanceId, claimJti: boundReplayGuard.claim },
      }),
      pool: stdio,
      upstreamJwks: () => relay.identity.jwks(),
      instanceId,
      auditStore,
      auditDatabase: db,
      checkDatabase: coalescedProbe(() => probeDatabase(oneAtATime(() => db.query("select 1"))), READINESS_FRESH_MS),
      edgeKeysUnreadable: assertionKeys.unreadable,
      metrics,
      groups,
      upstreamOAuth,
      policy: config.policy,
      listensPerUser: config.relay.listensPerUser,
      aggregate: {
        servers: Object.keys(config.servers),
        upstreamTimeoutMs: config.aggregate.upstreamTimeoutSeconds * 1000,
        keepAliveMs: config.relay.keepAliveSeconds * 1000,
      },
    }).fetch,
  }) as Server;
  server.keepAliveTimeout = ORIGIN_KEEP_ALIVE_MS;
  // Above the keep-alive, as Node advises; only the ALB (its security group) reaches this port.
  server.headersTimeout = ORIGIN_KEEP_ALIVE_MS + 60_000;
  // Not behind the ALB: a scraper inside the VPC reaches this port on the task's own address.
  const metricsPort = config.metrics.port;
  const metricsServer =
    metricsPort === undefined
      ? undefined
      : (createAdaptorServer({ ...KEEP_WEB_GLOBALS, fetch: metricsOnlyApp(metrics).fetch }) as Server);
  const close = async (options: { abrupt?: boolean; graceMs?: number } = {}) => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if (options.abrupt) server.closeAllConnections();
    const cut = options.graceMs === undefined ? undefined : setTimeout(() => server.closeAllConnections(), options.graceMs);
    await Promise.all([closed, metricsServer && stopListening(metricsServer)]);
    clearTimeout(cut);
    server.closeAllConnections();
    pins.stop();
    await stdio.close();
    await replayGuard.idle();
    await retention.stop();
    // Before the checkpoints' last flush, which then covers them, and before the pool ends.
    await originEvents.flush(ORIGIN_EVENTS_FLUSH_MS);
    await checkpoints.stop();
    await db.end();
  };
  try {
    await ensureSchema(db, config.databaseMigrate, log, config.databaseUrl, secret?.password).catch((error: unknown) => {
      throw describeDatabaseError(error, database);
    });
    await pins.start(PIN_POLL_MS);
    const port = await listen(
      server,
      config.port,
      config.host,
      options.portSetting ?? "PORT (or origin.port in the configuration file)",
    );
    const metricsUrl =
      metricsServer && metricsPort !== undefined
        ? `http://${config.host}:${await listen(metricsServer, metricsPort, config.host, "METRICS_PORT (or origin.metrics.port)")}`
        : undefined;
    retention.start();
    checkpoints.start();
    return {
      url: `http://${config.host}:${port}`,
      metricsUrl,
      upstreams: () => stdio.size(),
      upstreamPids: () => stdio.pids(),
      close,
    };
  } catch (error) {
    await Promise.all([stopListening(server), metricsServer && stopListening(metricsServer)]);
    await stdio.close();
    await originEvents.flush(ORIGIN_EVENTS_FLUSH_MS);
    await db.end();
    throw error;
  }
}

/** Stops a server that may or may not be listening yet. */
function stopListening(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * The instance's name for this run: the configured one (or host name and process id) and a random part, new on every
 * start, so that assertions bound to an earlier run (whose memory of them is gone) are refused as another instance's.
 */
export function instanceNameForThisRun(configured: string | undefined): string {
  return `${configured ?? `${hostname()}-${process.pid}`}.${randomBytes(4).toString("hex")}`;
}
