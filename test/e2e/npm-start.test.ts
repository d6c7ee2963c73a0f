import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../local/free-port.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";
import { descendantsOf, isAlive } from "./process-tree.ts";

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

describe("npm start", () => {
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
        LOCAL_DATA_DIR: dataDir,
        DATABASE_URL: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const banner = await waitForOutput(child, "Inspector:", 120_000);
    const mcpUrl = `http://127.0.0.1:${edgePort}/mcp/everything`;
    expect(banner).toContain(`MCP URL ............ ${mcpUrl}`);
    expect(banner).toContain(`claude mcp add --transport http everything ${mcpUrl}`);
    expect(banner).toContain(`"url":"${mcpUrl}"`);
    expect(banner).toContain("signed in automatically as dev@example.com");

    // A real call starts the user's stdio child, so the process tree holds everything npm start runs.
    const provider = new InMemoryOAuthProvider();
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider as never });
    await new Client({ name: "npm-start-test", version: "1.0.0" }).connect(transport).catch(() => {});
    await transport.finishAuth((await provider.signInHeadlessly()).get("code") ?? "");
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
