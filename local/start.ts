import { readOriginFile } from "../aws/origin/config.ts";
import { ConfigError } from "../contract/config/load.ts";
import { banner } from "./banner.ts";
import { DEV_ACCOUNTS } from "./idp/start-idp.ts";
import {
  edgeVariables,
  edgeVariablesLines,
  ignoredOriginVariables,
  ignoredVariablesLine,
  withoutProcessVariables,
} from "./ignored-variables.ts";
import { type LocalPorts, startLocalSystem } from "./system.ts";

/**
 * `npm start`: the whole system on this machine, on loopback only. Ports and the data folder can be moved
 * with environment variables; DATABASE_URL replaces the embedded database with a server.
 */
const PORT_VARIABLES: Record<Exclude<keyof LocalPorts, "originInstances">, [variable: string, fallback: number]> = {
  edge: ["EDGE_PORT", 8787],
  origin: ["ORIGIN_PORT", 8788],
  idp: ["IDP_PORT", 8789],
  database: ["EMBEDDED_DB_PORT", 8790],
  edgeInspector: ["EDGE_INSPECTOR_PORT", 9229],
  // After the origin instances' ports (8791 to 8794).
  google: ["FAKE_GOOGLE_PORT", 8795],
};

function readPorts(): LocalPorts {
  const entries = Object.entries(PORT_VARIABLES).map(([part, [variable, fallback]]) => {
    const raw = process.env[variable];
    const port = raw === undefined || raw === "" ? fallback : Number(raw);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new ConfigError([`${variable}: expected a port number from 1 to 65535; got "${raw}"`]);
    }
    return [part, port];
  });
  return Object.fromEntries(entries) as LocalPorts;
}

/** LOCAL_SIGN_IN: a dev account's e-mail to sign in as without a page (default: the first), or `choose` for a picker. */
function readSignIn(): string | false {
  const value = process.env.LOCAL_SIGN_IN || DEV_ACCOUNTS[0]?.email || "";
  if (value === "choose") return false;
  if (!DEV_ACCOUNTS.some((account) => account.email === value)) {
    const known = DEV_ACCOUNTS.map((account) => account.email).join(", ");
    throw new ConfigError([`LOCAL_SIGN_IN: expected "choose" or one of ${known}; got "${value}"`]);
  }
  return value;
}

/** ORIGIN_INSTANCES: how many origins to run behind a local balancer (default 1, at most 4). */
function readOriginInstances(): number {
  const raw = process.env.ORIGIN_INSTANCES || "1";
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1 || count > 4)
    throw new ConfigError([`ORIGIN_INSTANCES: expected 1 to 4; got "${raw}"`]);
  return count;
}

/** LOCAL_EDGE_KEY: how the edge signs its assertions, `ec` (the default) or `shared` (docs/edge-assertion.md). */
function readEdgeKey(): "ec" | "shared" {
  const raw = process.env.LOCAL_EDGE_KEY || "ec";
  if (raw !== "ec" && raw !== "shared") throw new ConfigError([`LOCAL_EDGE_KEY: expected "ec" or "shared"; got "${raw}"`]);
  return raw;
}

/** X_LOCAL_OBSERVABILITY: wrangler's trace capture, passed on to it; only `true` or `false` (anything else it would read as off). */
function checkObservability(): void {
  const raw = process.env.X_LOCAL_OBSERVABILITY;
  if (raw !== undefined && raw !== "" && raw !== "true" && raw !== "false")
    throw new ConfigError([`X_LOCAL_OBSERVABILITY: expected "true" or "false"; got "${raw}"`]);
}

async function main(): Promise<void> {
  const log = (part: string, line: string) => console.log(`[${part}] ${line}`);
  let system: Awaited<ReturnType<typeof startLocalSystem>>;
  let signIn: string | false = false;
  try {
    signIn = readSignIn();
    checkObservability();
    const ignored = ignoredVariablesLine(ignoredOriginVariables(process.env));
    if (ignored) log("origin", ignored);
    const edge = edgeVariables(process.env);
    for (const line of edgeVariablesLines(edge)) log("edge", line);
    // The origins run in this process: what they would read of its environment besides their configuration goes.
    withoutProcessVariables(process.env);
    system = await startLocalSystem({
      autoSignIn: signIn,
      ports: readPorts(),
      dataDir: process.env.LOCAL_DATA_DIR || ".local",
      databaseUrl: process.env.DATABASE_URL || undefined,
      originFile: readOriginFile(process.env),
      originInstances: readOriginInstances(),
      edgeKey: readEdgeKey(),
      edgeSettings: edge.settings,
      log,
    });
  } catch (error) {
    console.error(`\nnpm start failed: ${(error as Error).message}\nNothing is left running.`);
    process.exit(1);
  }
  console.log(banner(system.edgeUrl, system.servers, signIn));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping edge, origin, database and identity provider…`);
    await system.close();
    console.log("stopped.");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

await main();
