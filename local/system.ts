import { chmod, mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { startOrigin } from "../aws/origin/start-origin.ts";
import { EDGE_ENV_NAMES, ORIGIN_ENV_NAMES } from "../contract/config/env-names.ts";
import { loadConfig } from "../contract/config/load.ts";
import {
  EdgeConfig,
  hostlessAllowedOrigins,
  hostlessOriginsProblem,
  OriginConfig,
  type StdioServer,
} from "../contract/config/schema.ts";
import { TEST_AFFINITY_REFRESH_VARIABLE } from "../contract/origin-affinity.ts";
import { generateEdgeSigningKey, generateSharedEdgeKey } from "../scripts/keygen.ts";
import { startBalancer } from "./balancer.ts";
import { EMBEDDED_POOL_MAX, startEmbeddedPostgres } from "./embedded-postgres.ts";
import { localAwsKeys, localGoogleConfig, startLocalGoogle } from "./fake-google/local-google.ts";
import type { FakeGoogle } from "./fake-google/server.ts";
import { freePort } from "./free-port.ts";
import { DEV_ACCOUNTS, startIdp } from "./idp/start-idp.ts";
import { startInOrder } from "./start-in-order.ts";
import { startWranglerDev } from "./wrangler-dev.ts";

export interface LocalPorts {
  edge: number;
  edgeInspector: number;
  origin: number;
  /** Ports of the origin instances when there are several (the balancer then takes `origin`). */
  originInstances?: number[];
  idp: number;
  database: number;
  /** The fake Google APIs (STS, IAM Credentials, Directory) the origin reads groups from; a free port when unset. */
  google?: number;
}

export interface LocalSystemOptions {
  ports: LocalPorts;
  /** Where the embedded database, the Worker's KV and generated secrets live between runs. */
  dataDir: string;
  /** A PostgreSQL server to use instead of the embedded one. */
  databaseUrl?: string;
  /** The dev account signed in without a page, or false for an account picker. */
  autoSignIn?: string | false;
  /** The `origin` section of a configuration file, over the local defaults. */
  originFile?: { path: string; content: Record<string, unknown> };
  /**
   * How many origin instances to run (default 1). With more, they listen on the ports after `ports.origin` and a
   * local balancer that behaves like the ALB (round robin, cookie stickiness) takes `ports.origin`.
   */
  originInstances?: number;
  /**
   * How fresh Google groups are kept: the edge's `groups.ttlSeconds` and the origin's `google.cacheSeconds` (tests
   * shorten them; `npm start` keeps the defaults).
   */
  groupsFreshness?: { edgeTtlSeconds: number; originCacheSeconds: number };
  /**
   * How the edge signs its assertions (docs/edge-assertion.md): `ec` (the default) with a key whose public half the
   * origin fetches, or `shared` with an HMAC key both tiers hold.
   */
  edgeKey?: "ec" | "shared";
  /**
   * Test only: the balancer's stickiness duration (an ALB's is a day) and the edge's refresh of the cookies it keeps
   * (an hour), shortened to see a user outlive several durations on one instance.
   */
  affinityTiming?: { balancerStickinessMs: number; edgeRefreshMs: number };
  /**
   * Edge settings (its environment variables, docs/configuration.md) over the local defaults: what `npm start` found in
   * its own environment. Those in `EDGE_WIRED_BY_NPM_START` are not taken.
   */
  edgeSettings?: Record<string, string>;
  log: (part: string, line: string) => void;
}

/** The edge's variables that say how the local parts reach each other: npm start sets these itself. */
export const EDGE_WIRED_BY_NPM_START = [
  "PUBLIC_URL",
  "ORIGIN_URL",
  "IDP_ISSUER",
  "IDP_CLIENT_ID",
  "IDP_CLIENT_SECRET",
  "IDP_SCOPES",
  "SERVER_NAMES",
  "EDGE_SIGNING_KEY",
  "GROUPS_SOURCE",
] as const satisfies readonly (keyof typeof EDGE_ENV_NAMES)[];

export interface LocalSystem {
  edgeUrl: string;
  /** Where the edge reaches the origin: the only instance, or the balancer in front of several. */
  originUrl: string;
  /** Each origin instance, for tests that stop one. */
  origins: {
    instanceId: string;
    url: string;
    upstreams(): number;
    upstreamPids(): number[];
    close(options?: { abrupt?: boolean }): Promise<void>;
  }[];
  idpIssuer: string;
  databaseUrl: string;
  servers: string[];
  /** The fake Google Workspace: tests change a user's groups there, and suspend or delete a user. */
  google: Pick<FakeGoogle, "url" | "setGroups" | "setAccount">;
  close(): Promise<void>;
}

const LOCAL_IDP_CLIENT_ID = "mcp-edge-proxy-local";
const require = createRequire(import.meta.url);

/** The demo upstream `npm start` hosts: the MCP reference server, run over stdio by the origin. */
export function demoServers(): Record<string, StdioServer> {
  const everything = require.resolve("@modelcontextprotocol/server-everything/dist/index.js");
  return { everything: { transport: "stdio", command: process.execPath, args: [everything, "stdio"], env: {} } };
}

/** Everything the parts need, validated before any of them starts, so a wrong key stops nothing half-way. */
interface LocalPlan {
  edgeUrl: string;
  originUrl: string;
  idpIssuer: string;
  idpSecret: string;
  databaseUrl: string;
  /** One configuration per origin instance (they differ only in port and instance id). */
  originConfigs: OriginConfig[];
  edgeEnv: Record<string, string>;
  /** The fake Google APIs: where they listen and the AWS keys (made for this run) the origin signs with. */
  google: { port: number; aws: ReturnType<typeof localAwsKeys> };
}

async function planLocalSystem(options: LocalSystemOptions): Promise<LocalPlan> {
  const { ports } = options;
  // The address wrangler listens on, exactly: `localhost` may resolve to ::1 first, where nothing listens.
  const edgeUrl = `http://127.0.0.1:${ports.edge}`;
  const originUrl = `http://127.0.0.1:${ports.origin}`;
  const idpIssuer = `http://127.0.0.1:${ports.idp}`;
  const idpSecret = crypto.randomUUID();
  const databaseUrl = options.databaseUrl ?? `postgres://postgres@127.0.0.1:${ports.database}/postgres`;
  const google = { port: ports.google ?? (await freePort()), aws: localAwsKeys() };
  const googleConfig = localGoogleConfig(`http://127.0.0.1:${google.port}`);
  if (options.groupsFreshness) googleConfig.cacheSeconds = options.groupsFreshness.originCacheSeconds;
  const edgeSigningKey = options.edgeKey === "shared" ? generateSharedEdgeKey() : await generateEdgeSigningKey();
  // The file may add servers and limits; how the local parts reach each other is not its to change.
  const wiring: Partial<Record<WiredKey, unknown>> = {
    // Loopback only, whatever the file says (the example sets 0.0.0.0, as a container needs).
    host: "127.0.0.1",
    port: ports.origin,
    publicUrl: originUrl,
    edgeIssuer: edgeUrl,
    ...(options.edgeKey === "shared" && { edgeSharedKeys: edgeSigningKey }),
    databaseUrl,
    databasePoolMax: options.databaseUrl ? 10 : EMBEDDED_POOL_MAX,
  };
  const instances = options.originInstances ?? 1;
  // Several instances must recognise each other's input_required state and sign upstream identity alike.
  const shared =
    instances > 1 ? { requestStateKey: randomSecret(), upstreamIdentity: { signingKey: await generateEdgeSigningKey() } } : {};
  const originConfigs = Array.from({ length: instances }, (_, index) =>
    loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
      env: {},
      file: {
        path: options.originFile?.path ?? "local defaults",
        content: {
          servers: demoServers(),
          // Groups from the fake Google Workspace, as the origin reads them from the real one (docs/google-workspace.md).
          google: googleConfig,
          ...options.originFile?.content,
          ...wiring,
          ...shared,
          ...(instances > 1 && { port: instancePort(ports, index), instanceId: `origin-${index + 1}` }),
        },
      },
    }),
  );
  const [originConfig] = originConfigs as [OriginConfig];
  const overridden = Object.keys(wiring).filter((key) => key in (options.originFile?.content ?? {}));
  if (overridden.length > 0)
    options.log(
      "origin",
      `npm start sets ${overridden.join(", ")} itself: the configuration file's ${overridden.length > 1 ? "values are" : "value is"} not used`,
    );
  const edgeEnv = {
    ADMIN_GROUPS: "ops@example.com",
    ...(options.groupsFreshness && { GROUPS_TTL_SECONDS: String(options.groupsFreshness.edgeTtlSeconds) }),
    ...options.edgeSettings,
    PUBLIC_URL: edgeUrl,
    ORIGIN_URL: originUrl,
    IDP_ISSUER: idpIssuer,
    IDP_CLIENT_ID: LOCAL_IDP_CLIENT_ID,
    IDP_CLIENT_SECRET: idpSecret,
    IDP_SCOPES: "openid,email,profile,groups",
    SERVER_NAMES: Object.keys(originConfig.servers).join(","),
    EDGE_SIGNING_KEY: edgeSigningKey,
    GROUPS_SOURCE: "google-directory",
  } satisfies Partial<Record<keyof typeof EDGE_ENV_NAMES, string>> & Record<(typeof EDGE_WIRED_BY_NPM_START)[number], string>;
  const edge = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: edgeEnv });
  const hostless = hostlessAllowedOrigins(edge.mcpAllowedOrigins);
  if (hostless.length > 0) options.log("edge", hostlessOriginsProblem(hostless));
  toEnvFile(edgeEnv); // a value it cannot hold stops the start here, before anything runs
  const timing = options.affinityTiming;
  const testEnv: Record<string, string> = timing ? { [TEST_AFFINITY_REFRESH_VARIABLE]: String(timing.edgeRefreshMs) } : {};
  return { edgeUrl, originUrl, idpIssuer, idpSecret, databaseUrl, originConfigs, edgeEnv: { ...edgeEnv, ...testEnv }, google };
}

/**
 * Starts the whole system on loopback, in dependency order: identity provider, database, origin, edge.
 * If any part fails, the parts already started are stopped before the error is rethrown, naming the part.
 */
export async function startLocalSystem(options: LocalSystemOptions): Promise<LocalSystem> {
  const { ports, log } = options;
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const plan = await planLocalSystem(options);
  const parts = startInOrder(log);

  await parts.start("identity provider", "IDP_PORT", () =>
    startIdp({
      port: ports.idp,
      autoSignIn: options.autoSignIn,
      clients: [{ clientId: LOCAL_IDP_CLIENT_ID, clientSecret: plan.idpSecret, redirectUris: [`${plan.edgeUrl}/callback`] }],
    }),
  );
  log("idp", `OpenID provider on ${plan.idpIssuer}`);
  const google = await parts.start("fake Google APIs", "FAKE_GOOGLE_PORT", () =>
    startLocalGoogle(plan.google.port, DEV_ACCOUNTS, plan.google.aws.key),
  );
  log("google", `fake Google STS, IAM Credentials and Directory on ${google.url}`);

  if (options.databaseUrl) {
    log("db", "using DATABASE_URL");
  } else {
    const folder = join(dataDir, "postgres");
    await parts.start("embedded PostgreSQL", "EMBEDDED_DB_PORT", () =>
      startEmbeddedPostgres({ dataDir: folder, port: ports.database }),
    );
    log("db", `embedded PostgreSQL (PGlite) on ${plan.databaseUrl}, data in ${folder}`);
  }

  const origins: LocalSystem["origins"] = [];
  for (const config of plan.originConfigs) {
    const name = plan.originConfigs.length > 1 ? `origin ${config.instanceId}` : "origin";
    const origin = await parts.start(name, "ORIGIN_PORT", () =>
      startOrigin(config, (line) => log(name, line), {
        awsCredentials: plan.google.aws.source,
        portSetting: plan.originConfigs.length > 1 ? MULTI_ORIGIN_PORTS : "ORIGIN_PORT",
      }),
    );
    origins.push({ instanceId: config.instanceId ?? "origin", ...origin });
  }
  const servers = Object.keys(plan.originConfigs[0]?.servers ?? {});
  if (origins.length > 1) {
    const balancer = await parts.start("origin balancer", "ORIGIN_PORT", () =>
      startBalancer({
        port: ports.origin,
        targets: origins.map((origin) => origin.url),
        log: (line) => log("balancer", line),
        stickinessMs: options.affinityTiming?.balancerStickinessMs,
      }),
    );
    log("balancer", `balancer on ${balancer.url} in front of ${origins.map((origin) => origin.url).join(", ")}`);
  }
  log("origin", `origin on ${plan.originUrl}, serving: ${servers.join(", ")}`);

  const envFile = join(dataDir, "edge.env");
  await writeFile(envFile, toEnvFile(plan.edgeEnv), { mode: 0o600 });
  await chmod(envFile, 0o600); // an existing file keeps its mode on writeFile
  await parts.start("edge (wrangler dev)", "EDGE_PORT", () =>
    startWranglerDev({
      port: ports.edge,
      inspectorPort: ports.edgeInspector,
      envFile,
      persistTo: join(dataDir, "wrangler"),
      log: (line) => log("edge", line),
    }),
  );

  return {
    edgeUrl: plan.edgeUrl,
    originUrl: plan.originUrl,
    origins,
    idpIssuer: plan.idpIssuer,
    google,
    databaseUrl: plan.databaseUrl,
    servers,
    close: parts.stopAll,
  };
}

/** An origin instance's port: as given, else counted up from 8791 (after the other default ports). */
/** The origin's settings npm start wires itself, whatever the environment or the configuration file says. */
export const WIRED_KEYS = [
  "host",
  "port",
  "publicUrl",
  "edgeIssuer",
  "edgeSharedKeys",
  "databaseUrl",
  "databasePoolMax",
] as const;
type WiredKey = (typeof WIRED_KEYS)[number];

const instancePort = (ports: LocalPorts, index: number) => ports.originInstances?.[index] ?? 8791 + index;
const MULTI_ORIGIN_PORTS = "ORIGIN_INSTANCES (its origins take the ports from 8791 on; ORIGIN_PORT is their balancer's)";

const randomSecret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

/** Single-quoted dotenv lines: taken literally, which JSON values (the signing key) need. */
/**
 * The edge's variables as wrangler's env file, each single-quoted, with `$` escaped: wrangler expands `$NAME` there
 * even inside quotes (dotenv-expand), so a secret such as `k9$Ab…` would reach the Worker cut at the `$` (s28 review R6).
 */
function toEnvFile(variables: Record<string, string>): string {
  return Object.entries(variables)
    .map(([name, value]) => {
      if (value.includes("'") || value.includes("\n"))
        throw new Error(`${name} cannot be written to an env file: it contains a quote or a newline`);
      return `${name}='${value.replaceAll("$", "\\$")}'\n`;
    })
    .join("");
}
