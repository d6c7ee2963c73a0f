import { ConfigError } from "../contract/config/load.ts";
import { DEV_ACCOUNTS } from "./idp/start-idp.ts";
import { type LocalPorts, readOriginSection, startLocalSystem } from "./system.ts";

/**
 * `npm start`: the whole system on this machine, on loopback only. Ports and the data folder can be moved
 * with environment variables; DATABASE_URL replaces the embedded database with a server.
 */
const PORT_VARIABLES: Record<keyof LocalPorts, [variable: string, fallback: number]> = {
  edge: ["EDGE_PORT", 8787],
  origin: ["ORIGIN_PORT", 8788],
  idp: ["IDP_PORT", 8789],
  database: ["EMBEDDED_DB_PORT", 8790],
  edgeInspector: ["EDGE_INSPECTOR_PORT", 9229],
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

function banner(edgeUrl: string, servers: string[]): string {
  const [first = "everything"] = servers;
  const url = `${edgeUrl}/mcp/${first}`;
  const devUser = DEV_ACCOUNTS[0]?.email ?? "the first dev account";
  const vscode = JSON.stringify({ servers: { [first]: { type: "http", url } } });
  return `
  MCP edge proxy is running (Ctrl-C stops everything).

  MCP URL ............ ${url}
  Servers ............ ${servers.map((name) => `${edgeUrl}/mcp/${name}`).join("  ")}
  Sign-in ............ local identity provider, signed in automatically as ${devUser}

  Claude Code:  claude mcp add --transport http ${first} ${url}
  VS Code:      add to .vscode/mcp.json  ${vscode}
  Inspector:    npx @modelcontextprotocol/inspector   then Transport "Streamable HTTP", URL ${url}
`;
}

async function main(): Promise<void> {
  const log = (part: string, line: string) => console.log(`[${part}] ${line}`);
  let system: Awaited<ReturnType<typeof startLocalSystem>>;
  try {
    system = await startLocalSystem({
      ports: readPorts(),
      dataDir: process.env.LOCAL_DATA_DIR || ".local",
      databaseUrl: process.env.DATABASE_URL || undefined,
      originFile: await readOriginSection(process.env.MCP_PROXY_CONFIG || "proxy.config.json"),
      log,
    });
  } catch (error) {
    console.error(`\nnpm start failed: ${(error as Error).message}\nNothing is left running.`);
    process.exit(1);
  }
  console.log(banner(system.edgeUrl, system.servers));
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
