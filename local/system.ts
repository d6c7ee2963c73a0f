import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { startOrigin } from "../aws/origin/start-origin.ts";
import { EDGE_ENV_NAMES, ORIGIN_ENV_NAMES } from "../contract/config/env-names.ts";
import { loadConfig } from "../contract/config/load.ts";
import { EdgeConfig, OriginConfig } from "../contract/config/schema.ts";
import { generateEdgeSigningKey } from "../scripts/keygen.ts";
import { EMBEDDED_POOL_MAX, startEmbeddedPostgres } from "./embedded-postgres.ts";
import { startIdp } from "./idp/start-idp.ts";
import { startWranglerDev } from "./wrangler-dev.ts";

export interface LocalPorts {
  edge: number;
  edgeInspector: number;
  origin: number;
  idp: number;
  database: number;
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
  log: (part: string, line: string) => void;
}

export interface LocalSystem {
  edgeUrl: string;
  originUrl: string;
  idpIssuer: string;
  databaseUrl: string;
  servers: string[];
  close(): Promise<void>;
}

const LOCAL_IDP_CLIENT_ID = "mcp-edge-proxy-local";
const require = createRequire(import.meta.url);

/** The demo upstream `npm start` hosts: the MCP reference server, run over stdio by the origin. */
export function demoServers(): OriginConfig["servers"] {
  const everything = require.resolve("@modelcontextprotocol/server-everything/dist/index.js");
  return { everything: { transport: "stdio", command: process.execPath, args: [everything, "stdio"], env: {} } };
}

/**
 * Starts the whole system on loopback, in dependency order: identity provider, database, origin, edge.
 * If any part fails, the parts already started are stopped before the error is rethrown, naming the part.
 */
export async function startLocalSystem(options: LocalSystemOptions): Promise<LocalSystem> {
  const { ports, log } = options;
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const edgeUrl = `http://localhost:${ports.edge}`;
  const originUrl = `http://127.0.0.1:${ports.origin}`;
  const running: { name: string; close: () => Promise<void> }[] = [];
  const close = async () => {
    for (const part of running.reverse())
      await part.close().catch((error: unknown) => log(part.name, `stop failed: ${String(error)}`));
  };
  const step = async <T extends { close(): Promise<void> }>(
    name: string,
    portVariable: string,
    start: () => Promise<T>,
  ): Promise<T> => {
    try {
      const part = await start();
      running.push({ name, close: () => part.close() });
      return part;
    } catch (error) {
      await close();
      const message = (error as Error).message;
      const hint = /already in use/.test(message) ? ` (with npm start, set ${portVariable} to use another port)` : "";
      throw new Error(`${name} failed to start: ${message}${hint}`, { cause: error });
    }
  };

  // Both configurations are validated before anything starts, so a wrong key stops nothing half-way.
  const idpIssuer = `http://127.0.0.1:${ports.idp}`;
  const idpSecret = crypto.randomUUID();
  const embeddedUrl = `postgres://postgres@127.0.0.1:${ports.database}/postgres`;
  const originConfig = loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
    env: {},
    file: {
      path: options.originFile?.path ?? "local defaults",
      content: {
        port: ports.origin,
        publicUrl: originUrl,
        edgeIssuer: edgeUrl,
        databaseUrl: options.databaseUrl ?? embeddedUrl,
        databasePoolMax: options.databaseUrl ? 10 : EMBEDDED_POOL_MAX,
        servers: demoServers(),
        ...options.originFile?.content,
      },
    },
  });
  const edgeEnv = {
    PUBLIC_URL: edgeUrl,
    ORIGIN_URL: originUrl,
    IDP_ISSUER: idpIssuer,
    IDP_CLIENT_ID: LOCAL_IDP_CLIENT_ID,
    IDP_CLIENT_SECRET: idpSecret,
    IDP_SCOPES: "openid,email,profile,groups",
    EDGE_SIGNING_KEY: await generateEdgeSigningKey(),
  } satisfies Partial<Record<keyof typeof EDGE_ENV_NAMES, string>>;
  loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: edgeEnv });

  await step("identity provider", "IDP_PORT", () =>
    startIdp({
      port: ports.idp,
      autoSignIn: options.autoSignIn,
      clients: [{ clientId: LOCAL_IDP_CLIENT_ID, clientSecret: idpSecret, redirectUris: [`${edgeUrl}/callback`] }],
    }),
  );
  log("idp", `OpenID provider on ${idpIssuer}`);

  if (!options.databaseUrl) {
    await step("embedded PostgreSQL", "EMBEDDED_DB_PORT", () =>
      startEmbeddedPostgres({ dataDir: join(dataDir, "postgres"), port: ports.database }),
    );
  }
  log(
    "db",
    options.databaseUrl
      ? "using DATABASE_URL"
      : `embedded PostgreSQL (PGlite) on ${embeddedUrl}, data in ${join(dataDir, "postgres")}`,
  );

  const origin = await step("origin", "ORIGIN_PORT", () => startOrigin(originConfig, (line) => log("origin", line)));
  log("origin", `origin on ${origin.url}, serving: ${Object.keys(originConfig.servers).join(", ")}`);

  const envFile = join(dataDir, "edge.env");
  await writeFile(envFile, toEnvFile(edgeEnv), { mode: 0o600 });
  await chmod(envFile, 0o600);
  await step("edge (wrangler dev)", "EDGE_PORT", () =>
    startWranglerDev({
      port: ports.edge,
      inspectorPort: ports.edgeInspector,
      envFile,
      persistTo: join(dataDir, "wrangler"),
      log: (line) => log("edge", line),
    }),
  );

  return {
    edgeUrl,
    originUrl,
    idpIssuer,
    databaseUrl: originConfig.databaseUrl ?? embeddedUrl,
    servers: Object.keys(originConfig.servers),
    close,
  };
}

/** Reads the `origin` section of a configuration file for `npm start`, if the file exists. */
export async function readOriginSection(path: string): Promise<LocalSystemOptions["originFile"]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  const document = JSON.parse(text) as { origin?: Record<string, unknown> };
  return document.origin ? { path: `${path} (origin section)`, content: document.origin } : undefined;
}

/** Single-quoted dotenv lines: taken literally, which JSON values (the signing key) need. */
function toEnvFile(variables: Record<string, string>): string {
  return Object.entries(variables)
    .map(([name, value]) => {
      if (value.includes("'") || value.includes("\n"))
        throw new Error(`${name} cannot be written to an env file: it contains a quote or a newline`);
      return `${name}='${value}'\n`;
    })
    .join("");
}
