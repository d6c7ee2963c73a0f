import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ParseError, parse } from "jsonc-parser";

const CLI = fileURLToPath(new URL("../../client-config/cli.ts", import.meta.url));

export type Platform = "darwin" | "linux" | "win32";
export const PLATFORMS: readonly Platform[] = ["darwin", "linux", "win32"];

export interface Result {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The real command, as a child of the pinned Node (the one running vitest), with nothing inherited
 * from this shell's proxy or client variables. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Result {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", ...env },
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Where each client keeps its files on each system, written out independently of the command's own table. */
export function layout(platform: Platform, home: string) {
  const appData = {
    darwin: join(home, "Library", "Application Support"),
    linux: join(home, ".config"),
    win32: join(home, "AppData", "Roaming"),
  }[platform];
  return {
    "claude-code": {
      dir: join(home, ".claude"),
      file: join(home, ".claude.json"),
      settings: join(home, ".claude", "settings.json"),
    },
    "claude-desktop": { dir: join(appData, "Claude"), file: join(appData, "Claude", "claude_desktop_config.json") },
    vscode: { dir: join(appData, "Code", "User"), file: join(appData, "Code", "User", "mcp.json") },
    cursor: { dir: join(home, ".cursor"), file: join(home, ".cursor", "mcp.json") },
    windsurf: { dir: join(home, ".codeium", "windsurf"), file: join(home, ".codeium", "windsurf", "mcp_config.json") },
    jetbrains: { dir: join(appData, "JetBrains"), file: join(home, ".ai", "mcp", "mcp.json") },
  };
}

export type ClientId = keyof ReturnType<typeof layout>;
export const CLIENT_IDS: readonly ClientId[] = ["claude-code", "claude-desktop", "vscode", "cursor", "windsurf", "jetbrains"];

/** Configuration files as the clients leave them after some use (JetBrains has none yet). */
export const SAMPLES: Partial<Record<ClientId, string>> = {
  "claude-code": `${JSON.stringify(
    {
      numStartups: 14,
      installMethod: "native",
      projects: { "/home/me/src/app": { allowedTools: [], mcpServers: {}, hasTrustDialogAccepted: true } },
      mcpServers: { playwright: { type: "stdio", command: "npx", args: ["@playwright/mcp@latest"], env: {} } },
      userID: "5f0c1e",
    },
    null,
    2,
  )}\n`,
  "claude-desktop": `{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
    }
  },
  "globalShortcut": ""
}
`,
  vscode: `{
\t// Servers for Copilot agent mode; see https://code.visualstudio.com/docs/copilot/chat/mcp-servers
\t"servers": {
\t\t"github": {
\t\t\t"type": "http",
\t\t\t"url": "https://api.githubcopilot.com/mcp/", // the hosted one
\t\t},
\t},
\t/* prompted once, stored in the keychain */
\t"inputs": [],
}
`,
  cursor: `{
  "mcpServers": {
    "sentry": { "url": "https://mcp.sentry.dev/mcp" }
  }
}
`,
  windsurf: `{
    "mcpServers": {
        "git": {
            "command": "uvx",
            "args": ["mcp-server-git"],
            "disabled": false
        }
    }
}
`,
};

export function tempHome(): string {
  return mkdtempSync(join(tmpdir(), "mcp-edge-client-config-"));
}

export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

/** A home where every client is installed, with the sample files in place. */
export function populatedHome(platform: Platform): string {
  const home = tempHome();
  const places = layout(platform, home);
  for (const id of CLIENT_IDS) {
    mkdirSync(places[id].dir, { recursive: true });
    const sample = SAMPLES[id];
    if (sample !== undefined) writeFile(places[id].file, sample);
  }
  return home;
}

export function writeFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

export function read(path: string): string {
  return readFileSync(path, "utf8");
}

/** A JSONC text's value; fails the test on a parse error rather than returning half a document. */
export function parseJsonc(text: string, what = "text"): Record<string, unknown> {
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: true });
  if (errors.length > 0) throw new Error(`${what} does not parse: ${JSON.stringify(errors)}`);
  return value as Record<string, unknown>;
}

export function readJsonc(path: string): Record<string, unknown> {
  return parseJsonc(read(path), path);
}

export function backupsOf(path: string): string[] {
  const name = path.slice(dirname(path).length + 1);
  return readdirSync(dirname(path))
    .filter((file) => file.startsWith(`${name}.`) && file.endsWith(".bak"))
    .map((file) => join(dirname(path), file));
}

/** Every file under a directory with its content, to show that a run changed nothing at all. */
export function snapshot(root: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files.set(path, read(path));
    }
  }
  return files;
}
