import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../local/free-port.ts";
import { startIdp } from "../../local/idp/start-idp.ts";
import { startWranglerDev } from "../../local/wrangler-dev.ts";
import { generateEdgeSigningKey } from "../../scripts/keygen.ts";
import { startTestSystem } from "../e2e/local-system.ts";

export const COMPANY = "Example Corp";
export const SERVERS = ["everything", "filesystem"];

export interface EdgeUnderTest {
  edgeUrl: string;
  idpIssuer: string;
  close(): Promise<void>;
}

/**
 * The real edge under `wrangler dev` with the local OpenID provider behind it: all a consent page and its Allow
 * button need (no origin: nothing here reaches an MCP server). Output is printed only if start-up fails.
 */
export async function startEdgeUnderTest(): Promise<EdgeUnderTest> {
  const dataDir = await mkdtemp(join(tmpdir(), "mcp-edge-browser-"));
  const output: string[] = [];
  const port = await freePort();
  const edgeUrl = `http://127.0.0.1:${port}`;
  const idp = await startIdp({
    port: 0,
    clients: [{ clientId: "browser-test-edge", clientSecret: "test-secret-not-real", redirectUris: [`${edgeUrl}/callback`] }],
  });
  const variables = {
    PUBLIC_URL: edgeUrl,
    EDGE_DISPLAY_NAME: COMPANY,
    ORIGIN_URL: "http://127.0.0.1:9",
    IDP_ISSUER: idp.issuer,
    IDP_CLIENT_ID: "browser-test-edge",
    IDP_CLIENT_SECRET: "test-secret-not-real",
    SERVER_NAMES: SERVERS.join(","),
    EDGE_SIGNING_KEY: await generateEdgeSigningKey(),
  };
  const envFile = join(dataDir, "edge.env");
  const lines = Object.entries(variables).map(([name, value]) => `${name}='${value}'\n`);
  await writeFile(envFile, lines.join(""), { mode: 0o600 });
  try {
    const edge = await startWranglerDev({
      port,
      inspectorPort: await freePort(),
      envFile,
      persistTo: join(dataDir, "wrangler"),
      log: (line) => output.push(line),
    });
    return {
      edgeUrl,
      idpIssuer: idp.issuer,
      close: async () => {
        await edge.close();
        await idp.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    console.error(output.join("\n"));
    await idp.close();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

export interface SystemUnderTest {
  edgeUrl: string;
  /** The audit database, for tests that fill it directly. */
  databaseUrl: string;
  close(): Promise<void>;
}

/**
 * The whole local system (`npm start`'s: edge, origin, embedded PostgreSQL, the local OpenID provider with its account
 * picker, so the test chooses who signs in; admins are the `ops` group) for pages that show data from the origin.
 */
export async function startSystemUnderTest(): Promise<SystemUnderTest> {
  const system = await startTestSystem({ autoSignIn: false });
  return { edgeUrl: system.edgeUrl, databaseUrl: system.databaseUrl, close: system.close };
}
