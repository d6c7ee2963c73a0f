import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import {
  backupsOf,
  CLIENT_IDS,
  type ClientId,
  layout,
  PLATFORMS,
  parseJsonc,
  populatedHome,
  read,
  readJsonc,
  removeHome,
  runCli,
  SAMPLES,
  snapshot,
} from "./harness.ts";

const URL = "https://mcp.example.com/mcp/everything";
const BRIDGE = { command: "npx", args: ["-y", "mcp-remote@0.15.1", URL] };

/** Where each client's entry must end up and what it must look like. */
const EXPECTED: Record<ClientId, { servers: string; entry: unknown }> = {
  "claude-code": { servers: "mcpServers", entry: { type: "http", url: URL } },
  "claude-desktop": { servers: "mcpServers", entry: BRIDGE },
  vscode: { servers: "servers", entry: { type: "http", url: URL } },
  cursor: { servers: "mcpServers", entry: { url: URL } },
  windsurf: { servers: "mcpServers", entry: { serverUrl: URL } },
  jetbrains: { servers: "mcpServers", entry: BRIDGE },
};

const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) removeHome(home);
});

describe.each(PLATFORMS)("on %s", (platform) => {
  const setUp = () => {
    const home = populatedHome(platform);
    homes.push(home);
    return { home, places: layout(platform, home), args: ["--url", URL, "--platform", platform, "--home", home] };
  };

  it("writes each client's entry in its own shape, next to the entries already there", () => {
    const { places, args } = setUp();
    const result = runCli(args);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    for (const id of CLIENT_IDS) {
      const config = readJsonc(places[id].file);
      const servers = config[EXPECTED[id].servers] as Record<string, unknown>;
      expect(servers.everything, id).toEqual(EXPECTED[id].entry);
      // Whatever the file held before is all still there.
      const { [EXPECTED[id].servers]: serversBefore = {}, ...rest } = parseJsonc(SAMPLES[id] ?? "{}");
      const { everything: _, ...others } = servers;
      expect(others, id).toEqual(serversBefore);
      for (const [key, value] of Object.entries(rest)) expect(config[key], `${id} ${key}`).toEqual(value);
    }
    for (const id of CLIENT_IDS) expect(result.stdout).toMatch(new RegExp(`^  ${id}\\s+written\\s`, "m"));
    expect(result.stdout).toMatch(/: 6 written$/m);
    // The two bridged clients say so, and why.
    const bridged = result.stdout.split("\n").filter((line) => line.includes("mcp-remote bridge"));
    expect(bridged).toHaveLength(2);
  });

  it("is idempotent: a second run changes nothing and makes no backup", () => {
    const { home, args } = setUp();
    expect(runCli(args).status).toBe(0);
    const after = snapshot(home);
    const again = runCli(args);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/: 6 unchanged$/m);
    // Nothing was replaced, so nothing says so: each entry is already as wanted.
    expect(again.stdout).not.toContain("replaced");
    expect(again.stdout.match(/already as wanted/g)).toHaveLength(6);
    expect(snapshot(home)).toEqual(after);
  });

  it("keeps a timestamped backup of each file it replaces, and none of files it creates", () => {
    const { places, args } = setUp();
    expect(runCli(args).status).toBe(0);
    for (const id of CLIENT_IDS) {
      const sample = SAMPLES[id];
      const backups = backupsOf(places[id].file);
      if (sample === undefined) {
        expect(backups, id).toEqual([]);
      } else {
        expect(backups, id).toHaveLength(1);
        expect(backups[0], id).toMatch(/\.\d{8}T\d{6}Z\.bak$/);
        expect(read(backups[0] ?? ""), id).toBe(sample);
      }
    }
  });

  it("--remove takes the entries out again, leaving what was there before", () => {
    const { places, args } = setUp();
    expect(runCli(args).status).toBe(0);
    const removal = runCli([...args, "--remove"]);
    expect(removal.stderr).toBe("");
    expect(removal.status).toBe(0);
    expect(removal.stdout).toMatch(/: 6 removed$/m);
    for (const id of CLIENT_IDS) {
      const sample = SAMPLES[id];
      // JetBrains had no file: the one the command created goes again.
      if (sample === undefined) expect(existsSync(places[id].file), id).toBe(false);
      else expect(readJsonc(places[id].file), id).toEqual(parseJsonc(sample));
    }
    // The JSONC file comes back byte for byte: comments, tabs and trailing commas included.
    expect(read(places.vscode.file)).toBe(SAMPLES.vscode);
    const twice = runCli([...args, "--remove"]);
    expect(twice.status).toBe(0);
    expect(twice.stdout).toMatch(/: 6 unchanged$/m);
  });
});
