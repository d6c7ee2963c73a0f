import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../local/free-port.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";
import { commandLineOf, descendantsOf, isAlive } from "./process-tree.ts";

let child: ChildProcess | undefined;
let dataDir: string | undefined;
afterAll(async () => {
  if (child?.exitCode === null) child.kill("SIGKILL");
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Resolves with everything printed once `marker` appears; rejects if the process exits first. */
function waitForOutput(process: ChildProcess, marker: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`no "${marker}" within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes(marker)) {
        clearTimeout(timer);
        resolve(output);
      }
    };
    process.stdout?.on("data", onData);
    process.stderr?.on("data", onData);
    process.once("exit", (code) => reject(new Error(`exited with ${code} before "${marker}":\n${output}`)));
  });
}

/** The demo upstream's processes among `pid`'s descendants. */
const upstreamChildren = (pid: number) =>
  descendantsOf(pid).filter((descendant) => commandLineOf(descendant).includes("server-everything"));

async function waitUntil(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not so within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("npm start", () => {
  it.each([
    [
      "a configuration file that is not there",
      { MCP_PROXY_CONFIG: "/nonexistent/proxy.config.json" },
      "file not found (MCP_PROXY_CONFIG)",
    ],
    ["a typo at the configuration file's top level", { MCP_PROXY_CONFIG: "typo" }, 'unknown top-level key "origni"'],
    ["a bad X_LOCAL_OBSERVABILITY", { X_LOCAL_OBSERVABILITY: "maybe" }, 'X_LOCAL_OBSERVABILITY: expected "true" or "false"'],
  ])("refuses %s before starting anything, saying why", async (_case, variables, reason) => {
    const dir = await mkdtemp(join(tmpdir(), "mcp-npm-start-refused-"));
    try {
      await writeFile(join(dir, "typo.json"), JSON.stringify({ origni: { port: 9000 } }));
      const env: NodeJS.ProcessEnv = { ...process.env, ...variables, LOCAL_DATA_DIR: dir };
      if (env.MCP_PROXY_CONFIG === "typo") env.MCP_PROXY_CONFIG = join(dir, "typo.json");
      const refused = spawn(process.execPath, [fileURLToPath(new URL("../../local/start.ts", import.meta.url))], {
        cwd: dir,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      refused.stderr?.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8");
      });
      const code = await new Promise((resolve) => refused.once("exit", resolve));
      expect(code).toBe(1);
      expect(output).toContain(reason);
      expect(output).toContain("Nothing is left running.");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("prints where everything is, serves a signed-in MCP call, and stops on Ctrl-C leaving no process behind", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "mcp-npm-start-"));
    const edgePort = await freePort();
    // Started from another directory on purpose: nothing may depend on the working directory.
    child = spawn(process.execPath, [fileURLToPath(new URL("../../local/start.ts", import.meta.url))], {
      cwd: dataDir,
      env: {
        ...process.env,
        EDGE_PORT: String(edgePort),
        EDGE_INSPECTOR_PORT: String(await freePort()),
        ORIGIN_PORT: String(await freePort()),
        IDP_PORT: String(await freePort()),
        EMBEDDED_DB_PORT: String(await freePort()),
        FAKE_GOOGLE_PORT: String(await freePort()),
        LOCAL_DATA_DIR: dataDir,
        DATABASE_URL: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const banner = await waitForOutput(child, "Inspector:", 120_000);
    // The aggregated endpoint first (what the docs and client-config steer to), each server's own under it.
    const aggregatedUrl = `http://127.0.0.1:${edgePort}/mcp`;
    const mcpUrl = `${aggregatedUrl}/everything`;
    expect(banner).toContain(`MCP URL ............ ${aggregatedUrl}   (every server you may use, as one)`);
    expect(banner).toContain(`Servers ............ ${mcpUrl}   (one each)`);
    expect(banner).toContain(`claude mcp add --transport http company-mcp ${aggregatedUrl}`);
    expect(banner).toContain(`"url":"${aggregatedUrl}"`);
    expect(banner).toContain("signed in automatically as dev@example.com");

    // The URLs work exactly as printed: their host serves the discovery document naming that same URL, and the
    // endpoint asks for a token there (issue 13 found a 404 when the edge was addressed as printed).
    for (const url of [aggregatedUrl, mcpUrl]) {
      const printed = new URL(url);
      expect((await fetch(new URL("/healthz", printed))).status).toBe(200);
      const metadata = await fetch(new URL(`/.well-known/oauth-protected-resource${printed.pathname}`, printed));
      expect(metadata.status).toBe(200);
      expect(await metadata.json()).toMatchObject({ resource: url, authorization_servers: [printed.origin] });
      const unauthorized = await fetch(printed, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(unauthorized.status).toBe(401);
      expect(unauthorized.headers.get("www-authenticate")).toContain(`${printed.origin}/.well-known/oauth-protected-resource`);
    }

    // Signing in starts the user's stdio child in the background, before their first call (warmOnSignIn).
    expect(upstreamChildren(child.pid as number)).toEqual([]);
    const provider = new InMemoryOAuthProvider();
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider as never });
    await new Client({ name: "npm-start-test", version: "1.0.0" }).connect(transport).catch(() => {});
    const signedIn = await provider.signInHeadlessly();
    await waitUntil(() => upstreamChildren(child?.pid as number).length === 1);
    await transport.finishAuth(signedIn.get("code") ?? "");
    const client = new Client({ name: "npm-start-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider as never }));
    expect(await client.callTool({ name: "echo", arguments: { message: "hi" } })).toMatchObject({
      content: [{ text: "Echo: hi" }],
    });
    await client.close();

    const tree = descendantsOf(child.pid as number);
    expect(tree.length).toBeGreaterThanOrEqual(3); // wrangler, workerd, the stdio upstream at least

    const exited = new Promise<number | null>((resolve) => child?.once("exit", resolve));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(tree.filter(isAlive)).toEqual([]);
  });
});
