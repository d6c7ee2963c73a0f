import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { layout, populatedHome, readJsonc, removeHome, runCli, snapshot, writeFile } from "./harness.ts";

const URL = "https://mcp.example.com/mcp/everything";
const PROXY = { HTTPS_PROXY: "http://proxy.corp.example:3128", NO_PROXY: "localhost,127.0.0.1,.corp.example" };
const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) removeHome(home);
});

function setUp() {
  const home = populatedHome("darwin");
  homes.push(home);
  return { home, places: layout("darwin", home), args: ["--url", URL, "--platform", "darwin", "--home", home] };
}

const entryOf = (file: string) => (readJsonc(file).mcpServers as Record<string, unknown>).everything;

describe("the corporate proxy", () => {
  it("goes into the bridge entries (with --enable-proxy) and Claude Code's settings, when HTTPS_PROXY is set", () => {
    const { places, args } = setUp();
    const result = runCli(args, PROXY);
    expect(result.status).toBe(0);
    const bridged = { command: "npx", args: ["-y", "mcp-remote@0.15.1", URL, "--enable-proxy"], env: PROXY };
    expect(entryOf(places["claude-desktop"].file)).toEqual(bridged);
    expect(entryOf(places.jetbrains.file)).toEqual(bridged);
    expect(readJsonc(places["claude-code"].settings).env).toEqual(PROXY);
    // Clients that speak HTTP themselves get no variables in their entry, and the output says why.
    expect(entryOf(places.cursor.file)).toEqual({ url: URL });
    expect(result.stdout).toContain("proxy: it uses the editor's own proxy setting");
  });

  it("the lower-case spelling counts too", () => {
    const { places, args } = setUp();
    expect(runCli(args, { https_proxy: PROXY.HTTPS_PROXY }).status).toBe(0);
    expect(entryOf(places["claude-desktop"].file)).toMatchObject({ env: { HTTPS_PROXY: PROXY.HTTPS_PROXY } });
  });

  it("is not written when HTTPS_PROXY is not set", () => {
    const { places, args } = setUp();
    expect(runCli(args).status).toBe(0);
    expect(entryOf(places["claude-desktop"].file)).toEqual({ command: "npx", args: ["-y", "mcp-remote@0.15.1", URL] });
    expect(() => readJsonc(places["claude-code"].settings)).toThrow(/ENOENT/);
  });

  it("--remove deletes Claude Code's settings file again when the command created it for the variables", () => {
    const { places, args } = setUp();
    expect(runCli(args, PROXY).status).toBe(0);
    expect(readJsonc(places["claude-code"].settings)).toEqual({ env: PROXY });
    const removal = runCli([...args, "--remove"], PROXY);
    expect(removal.status).toBe(0);
    expect(removal.stdout).toContain("file deleted: this command created it");
    expect(existsSync(places["claude-code"].settings)).toBe(false);
  });

  it.each([
    "http://alice:s3cret@proxy.corp.example:3128",
    "alice:s3cret@proxy.corp.example:3128",
    "http://alice@proxy.corp.example:3128",
  ])("a proxy URL with credentials (%s) is neither printed nor written into any client", (proxyUrl) => {
    const { home, places, args } = setUp();
    const result = runCli(args, { HTTPS_PROXY: proxyUrl });
    expect(result.status).toBe(0);
    expect(result.stderr).toContain("HTTPS_PROXY carries a user name or password: it is not written into any client");
    expect(`${result.stdout}${result.stderr}`).not.toContain("alice");
    expect(JSON.stringify([...snapshot(home).values()])).not.toContain("alice");
    expect(readJsonc(places["claude-desktop"].file).mcpServers).toHaveProperty("everything");
  });

  it("leaves a proxy pair that is only half ours alone, on write and on --remove", () => {
    const { places, args } = setUp();
    const settings = { env: { HTTPS_PROXY: PROXY.HTTPS_PROXY, NO_PROXY: "corp.local" } };
    writeFile(places["claude-code"].settings, `${JSON.stringify(settings, null, 2)}\n`);
    expect(runCli(args, PROXY).stdout).toContain("kept NO_PROXY: already set to another value");
    const removal = runCli([...args, "--remove"], PROXY);
    expect(removal.stdout).toContain(
      "kept NO_PROXY: not the value this command writes; HTTPS_PROXY not removed either: they go together",
    );
    expect(readJsonc(places["claude-code"].settings)).toEqual(settings);
  });

  it("never overwrites the user's own proxy settings, and --remove takes away only what it wrote", () => {
    const { places, args } = setUp();
    const settings = { env: { HTTPS_PROXY: "http://my-own-proxy:8080", ANTHROPIC_LOG: "debug" }, model: "opus" };
    writeFile(places["claude-code"].settings, `${JSON.stringify(settings, null, 2)}\n`);
    const result = runCli(args, PROXY);
    expect(result.status).toBe(0);
    // Their proxy stays whole: our NO_PROXY beside their HTTPS_PROXY would be half of each setup.
    expect(result.stdout).toContain("kept HTTPS_PROXY: already set to another value; NO_PROXY not written either");
    expect(readJsonc(places["claude-code"].settings)).toEqual(settings);
    const removal = runCli([...args, "--remove"], PROXY);
    expect(removal.status).toBe(0);
    expect(removal.stdout).toContain("kept HTTPS_PROXY: not the value this command writes");
    expect(readJsonc(places["claude-code"].settings)).toEqual(settings);
  });
});
