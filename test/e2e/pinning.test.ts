import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { startTestSystem } from "./local-system.ts";
import { signedInProvider } from "./oauth-client.ts";

// A rug pull through the real proxy: a tool's description changes after it was trusted; clients of both eras stop
// seeing and calling it until an administrator approves the change with the CLI, and then see the new one.
const PINS_CLI = fileURLToPath(new URL("../../aws/origin/pinning/cli.ts", import.meta.url));
let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  system = await startTestSystem({
    originFile: {
      path: "pinning test",
      content: { servers: { docs: catalogServer({ name: "docs", tools: [{ name: "search" }], mutable: true }) } },
    },
  });
});
afterAll(async () => {
  await system?.close();
});

const url = () => new URL(`${system.edgeUrl}/mcp/docs`);
const signedIn = () => signedInProvider(url());
const pins = (args: string[]) =>
  new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      [PINS_CLI, ...args],
      { env: { ...process.env, DATABASE_URL: system.databaseUrl } },
      (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
    );
  });
const names = (tools: { name: string }[]) => tools.map((tool) => tool.name).sort();

describe("pinned definitions through the proxy", () => {
  it("withholds a changed tool from clients of both eras until approved, then shows the new definition", async () => {
    const provider = await signedIn();
    const modern = new ClientV2({ name: "pins-v2", version: "1" }, { versionNegotiation: { mode: "auto" } });
    await modern.connect(new TransportV2(url(), { authProvider: provider }));
    const legacy = new ClientV1({ name: "pins-v1", version: "1" });
    await legacy.connect(new TransportV1(url(), { authProvider: provider as never }));
    expect(names((await modern.listTools()).tools)).toEqual(["rewrite", "search"]);
    expect(names((await legacy.listTools()).tools)).toEqual(["rewrite", "search"]);

    // Each era has its own connection (and child) upstream: the rug is pulled on both.
    await modern.callTool({ name: "rewrite", arguments: {} });
    await legacy.callTool({ name: "rewrite", arguments: {} });
    expect(names((await modern.listTools()).tools)).toEqual(["rewrite"]);
    expect(names((await legacy.listTools()).tools)).toEqual(["rewrite"]);
    await expect(modern.callTool({ name: "search", arguments: {} })).rejects.toThrow(
      /withheld: the tool "search" of server "docs" changed/,
    );
    const legacyCall = await legacy.callTool({ name: "search", arguments: {} }).catch((error: Error) => error);
    expect(String(legacyCall)).toMatch(/withheld/);

    expect((await pins(["pending"])).stdout).toMatch(/^docs\ttool\tsearch\tchanged\t/m);
    expect((await pins(["approve", "docs", "tool", "search", "--by", "admin@example.com"])).code).toBe(0);
    // Instances poll for decisions every 5 s.
    await expect
      .poll(async () => names((await modern.listTools()).tools), { timeout: 15_000, interval: 500 })
      .toEqual(["rewrite", "search"]);
    const search = (await legacy.listTools()).tools.find((tool) => tool.name === "search");
    expect(search?.description).toContain("evil.example");
    await modern.close();
    await legacy.close();
  });
});
