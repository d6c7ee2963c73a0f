import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  backupsOf,
  layout,
  parseJsonc,
  populatedHome,
  read,
  readJsonc,
  removeHome,
  runCli,
  SAMPLES,
  snapshot,
  tempHome,
  writeFile,
} from "./harness.ts";

const URL = "https://mcp.example.com/mcp/everything";
const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) removeHome(home);
});

function setUp() {
  const home = populatedHome("linux");
  homes.push(home);
  return { home, places: layout("linux", home), args: ["--url", URL, "--platform", "linux", "--home", home] };
}

describe("--dry-run", () => {
  it("writes nothing and prints each change as a unified diff", () => {
    const { home, places, args } = setUp();
    const before = snapshot(home);
    const result = runCli([...args, "--dry-run"]);
    expect(result.status).toBe(0);
    expect(snapshot(home)).toEqual(before);
    expect(result.stdout).toMatch(/^ {2}cursor\s+would be written\s/m);
    expect(result.stdout).toContain(`--- ${places.cursor.file}`);
    expect(result.stdout).toContain(`+++ ${places.cursor.file}`);
    expect(result.stdout).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@$/m);
    expect(result.stdout).toContain(`+      "url": "${URL}"`);
    // The Windsurf file is indented by four: the diff shows the entry indented to match.
    expect(result.stdout).toContain(`+            "serverUrl": "${URL}"`);
    // The summary says what would happen, as each line does.
    expect(result.stdout).toMatch(/: 6 would be written$/m);
  });

  it("counts what would be written apart from what is skipped, and says what --remove would remove", () => {
    const home = tempHome();
    homes.push(home);
    const places = layout("darwin", home);
    for (const id of ["cursor", "vscode", "windsurf"] as const) mkdirSync(places[id].dir, { recursive: true });
    const args = ["--url", URL, "--platform", "darwin", "--home", home];
    const dry = runCli([...args, "--dry-run"]);
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(/: 3 would be written, 3 skipped$/m);
    expect(existsSync(places.cursor.file)).toBe(false);
    expect(runCli(args).status).toBe(0);
    expect(runCli([...args, "--remove", "--dry-run"]).stdout).toMatch(/: 3 would be removed, 3 skipped$/m);
    // Without --dry-run the summary is as before.
    expect(runCli([...args, "--remove"]).stdout).toMatch(/: 3 removed, 3 skipped$/m);
  });
});

describe("--remove and the files the command created", () => {
  it("a file that was not there before goes again, even after the entry was updated", () => {
    const { places, args } = setUp();
    const jetbrains = [...args, "--client", "jetbrains"];
    expect(runCli(jetbrains).status).toBe(0);
    // A changed URL replaces the entry: that backup holds the command's own earlier write.
    expect(runCli(["--url", "https://edge.example.com/mcp/everything", ...jetbrains.slice(2)]).status).toBe(0);
    const dry = runCli([...jetbrains, "--remove", "--dry-run"]);
    expect(dry.stdout).toContain("the file would be deleted: this command created it");
    expect(read(places.jetbrains.file)).toContain("edge.example.com");
    const removal = runCli([...jetbrains, "--remove"]);
    expect(removal.status).toBe(0);
    expect(removal.stdout).toContain("file deleted: this command created it and nothing else was left in it");
    expect(existsSync(places.jetbrains.file)).toBe(false);
    // Like any change, the deletion keeps a backup.
    const backups = backupsOf(places.jetbrains.file).map(read);
    expect(backups.filter((text) => text.includes("edge.example.com"))).toHaveLength(1);
  });

  it("a file that held only {} before keeps it", () => {
    const { places, args } = setUp();
    writeFile(places.cursor.file, "{}\n");
    const cursor = [...args, "--client", "cursor"];
    expect(runCli(cursor).status).toBe(0);
    const removal = runCli([...cursor, "--remove"]);
    expect(removal.status).toBe(0);
    expect(removal.stdout).not.toContain("deleted");
    expect(read(places.cursor.file)).toBe("{}\n");
  });

  it("an empty servers object the user had before stays, empty, after the entry is removed", () => {
    const { places, args } = setUp();
    const before = '{\n  "mcpServers": {}\n}\n';
    writeFile(places.cursor.file, before);
    const cursor = [...args, "--client", "cursor"];
    expect(runCli(cursor).status).toBe(0);
    expect(readJsonc(places.cursor.file).mcpServers).toHaveProperty("everything");
    expect(runCli([...cursor, "--remove"]).status).toBe(0);
    expect(readJsonc(places.cursor.file)).toEqual({ mcpServers: {} });
  });

  it("a servers object the command brought goes again when its entries go, in either order", () => {
    const { places, args } = setUp();
    writeFile(places.cursor.file, '{ "x": 1 }\n');
    const cursor = [...args, "--client", "cursor"];
    expect(runCli([...cursor, "--name", "a"]).status).toBe(0);
    expect(runCli([...cursor, "--name", "b"]).status).toBe(0);
    expect(runCli([...cursor, "--name", "a", "--remove"]).status).toBe(0);
    expect(runCli([...cursor, "--name", "b", "--remove"]).status).toBe(0);
    expect(readJsonc(places.cursor.file)).toEqual({ x: 1 });
  });

  it("a created file that now holds something else too keeps that", () => {
    const { places, args } = setUp();
    const jetbrains = [...args, "--client", "jetbrains"];
    expect(runCli(jetbrains).status).toBe(0);
    // The user adds a server of their own beside the command's entry.
    expect(runCli(["--url", "https://other.example.com/mcp/linear", ...jetbrains.slice(2)]).status).toBe(0);
    expect(runCli([...jetbrains, "--remove"]).status).toBe(0);
    expect(readJsonc(places.jetbrains.file).mcpServers).toEqual({
      linear: { command: "npx", args: ["-y", "mcp-remote@0.15.1", "https://other.example.com/mcp/linear"] },
    });
  });
});

describe("JSONC files", () => {
  it("keep their comments, trailing commas, tabs and layout; only the entry's lines are added", () => {
    const { places, args } = setUp();
    expect(runCli([...args, "--client", "vscode"]).status).toBe(0);
    // The entry goes in after the last one, taking over its trailing comma; not a byte elsewhere moves.
    expect(read(places.vscode.file)).toBe(`{
\t// Servers for Copilot agent mode; see https://code.visualstudio.com/docs/copilot/chat/mcp-servers
\t"servers": {
\t\t"github": {
\t\t\t"type": "http",
\t\t\t"url": "https://api.githubcopilot.com/mcp/", // the hosted one
\t\t},
\t\t"everything": {
\t\t\t"type": "http",
\t\t\t"url": "${URL}"
\t\t},
\t},
\t/* prompted once, stored in the keychain */
\t"inputs": [],
}
`);
    expect(readJsonc(places.vscode.file).inputs).toEqual([]);
  });

  it("a file that does not parse is refused, left untouched, and the other clients are still written", () => {
    const { places, args } = setUp();
    const broken = '{\n  "mcpServers": {\n    "sentry": { "url": "https://mcp.sentry.dev/mcp" }\n    "linear": {}\n  }\n}\n';
    writeFile(places.cursor.file, broken);
    const result = runCli(args);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(places.cursor.file);
    expect(result.stderr).toMatch(/CommaExpected at line 4, column 5/);
    expect(result.stderr).toMatch(/Left untouched/);
    expect(read(places.cursor.file)).toBe(broken);
    expect(backupsOf(places.cursor.file)).toEqual([]);
    expect(readJsonc(places.windsurf.file).mcpServers).toHaveProperty("everything");
    expect(result.stdout).toMatch(/: 5 written, 1 failed$/m);
  });

  it("a file that is not UTF-8 is refused and left byte for byte as it was (a Latin-1 é would become U+FFFD)", () => {
    const { places, args } = setUp();
    const latin1 = Buffer.from('{ "mcpServers": { "caf\xe9": { "url": "https://example.com/mcp" } } }\n', "latin1");
    writeFileSync(places.cursor.file, latin1);
    const result = runCli(args);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${places.cursor.file} is not UTF-8 text`);
    expect(readFileSync(places.cursor.file).equals(latin1)).toBe(true);
    expect(backupsOf(places.cursor.file)).toEqual([]);
    expect(readJsonc(places.windsurf.file).mcpServers).toHaveProperty("everything");
  });

  it("a file that begins with a byte order mark is read, and written back with it", () => {
    const { places, args } = setUp();
    writeFile(places.cursor.file, `\uFEFF${SAMPLES.cursor}`);
    expect(runCli([...args, "--client", "cursor"]).status).toBe(0);
    const written = read(places.cursor.file);
    expect(written.startsWith("\uFEFF{")).toBe(true);
    expect(parseJsonc(written.slice(1), places.cursor.file).mcpServers).toHaveProperty("everything");
  });

  it("a directory where the file should be is named as such, and left alone", () => {
    const { places, args } = setUp();
    rmSync(places.cursor.file);
    mkdirSync(places.cursor.file);
    const result = runCli([...args, "--client", "cursor"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${places.cursor.file} is a directory, not a file: move it aside and run again`);
    expect(lstatSync(places.cursor.file).isDirectory()).toBe(true);
  });

  it("a servers key that is not an object is refused rather than replaced", () => {
    const { places, args } = setUp();
    const odd = '{ "mcpServers": ["not", "an", "object"] }\n';
    writeFile(places["claude-desktop"].file, odd);
    const result = runCli([...args, "--client", "claude-desktop"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('"mcpServers" is an array, not an object of entries');
    expect(read(places["claude-desktop"].file)).toBe(odd);
  });
});

describe("entries that are already there", () => {
  it("an entry of the same name is replaced, and the output says so", () => {
    const { places, args } = setUp();
    const result = runCli([...args, "--client", "cursor", "--name", "sentry"]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('replaced the entry "sentry" that was there');
    expect(readJsonc(places.cursor.file).mcpServers).toEqual({ sentry: { url: URL } });
    expect(read(backupsOf(places.cursor.file)[0] ?? "")).toBe(SAMPLES.cursor);
  });

  it("a configuration file behind a symbolic link is written through the link", () => {
    const { home, places, args } = setUp();
    const target = join(home, "dotfiles", "cursor-mcp.json");
    writeFile(target, SAMPLES.cursor ?? "");
    rmSync(places.cursor.file);
    symlinkSync(target, places.cursor.file);
    expect(runCli([...args, "--client", "cursor"]).status).toBe(0);
    expect(lstatSync(places.cursor.file).isSymbolicLink()).toBe(true);
    expect(readJsonc(target).mcpServers).toHaveProperty("everything");
  });

  it("a relative link to a file not there yet, inside a linked folder, leads where the system says", () => {
    const { home, places, args } = setUp();
    // ~/.cursor -> dotfiles/cursor, and mcp.json there -> ../shared/mcp.json (relative to dotfiles/cursor).
    mkdirSync(join(home, "dotfiles", "cursor"), { recursive: true });
    mkdirSync(join(home, "dotfiles", "shared"), { recursive: true });
    rmSync(join(home, ".cursor"), { recursive: true, force: true });
    symlinkSync(join(home, "dotfiles", "cursor"), join(home, ".cursor"));
    symlinkSync(join("..", "shared", "mcp.json"), join(home, "dotfiles", "cursor", "mcp.json"));
    expect(runCli([...args, "--client", "cursor"]).status).toBe(0);
    expect(readJsonc(join(home, "dotfiles", "shared", "mcp.json")).mcpServers).toHaveProperty("everything");
    expect(existsSync(join(home, "shared"))).toBe(false);
    expect(readJsonc(places.cursor.file).mcpServers).toHaveProperty("everything");
  });

  it("a symbolic link to a file not there yet creates that file, and the link stays", () => {
    const { home, places, args } = setUp();
    const target = join(home, "dotfiles", "not-yet", "cursor-mcp.json");
    rmSync(places.cursor.file);
    symlinkSync(join("..", "dotfiles", "not-yet", "cursor-mcp.json"), places.cursor.file);
    expect(runCli([...args, "--client", "cursor"]).status).toBe(0);
    expect(lstatSync(places.cursor.file).isSymbolicLink()).toBe(true);
    expect(readJsonc(target).mcpServers).toHaveProperty("everything");
  });
});

describe("the URL, the name and the clients", () => {
  it.each([
    ["ftp://mcp.example.com/mcp", /--url must be an http\(s\) URL, not ftp:/],
    ["mcp.example.com", /--url "mcp\.example\.com" is not a URL/],
    ["https://me:secret@mcp.example.com/mcp", /must not carry a user name or password/],
    // Plain http anywhere but on this machine: says why, which hosts may, and the https URL to use instead.
    [
      "http://mcp.example.com/mcp",
      /plain http is accepted only for an edge on this machine \(localhost, 127\.0\.0\.1 or \[::1\]\); .*unencrypted.*Use https:\/\/mcp\.example\.com\/mcp$/m,
    ],
    ["http://127.0.0.1.example.com", /plain http is accepted only/],
    // A server name as the edge's configuration allows it, and no other path: each names the accepted forms.
    [
      "https://mcp.example.com/mcp/BAD_NAME",
      /"BAD_NAME" is not a server name \(expected 1-31 lowercase letters, digits or dashes/,
    ],
    [`https://mcp.example.com/mcp/${"a".repeat(32)}`, /is not a server name/],
    [
      "https://mcp.example.com/api/mcp",
      /the path \/api\/mcp is none of the edge's MCP URLs; use https:\/\/mcp\.example\.com \(its \/mcp\), https:\/\/mcp\.example\.com\/mcp \(every server, aggregated\) or https:\/\/mcp\.example\.com\/mcp\/<server> \(one server\)/,
    ],
    ["https://mcp.example.com/mcp/github/tools", /the path \/mcp\/github\/tools is none of the edge's MCP URLs/],
    ["https://mcp.example.com/mcp?team=a", /--url must not have a \?query/],
    ["https://mcp.example.com/mcp?", /--url must not have a \?query/],
    ["https://mcp.example.com/mcp#", /--url must not have a #fragment/],
  ])("--url %s is refused and nothing is written", (url, message) => {
    const { home, args } = setUp();
    const before = snapshot(home);
    const result = runCli(["--url", url, ...args.slice(2)]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe("");
    expect(snapshot(home)).toEqual(before);
  });

  it("--help documents the URL rules and each exit status", () => {
    const result = runCli(["--help"]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("https (http only on localhost, 127.0.0.1 or [::1])");
    for (const status of [0, 1, 2, 3]) expect(result.stdout).toMatch(new RegExp(`^  ${status}  \\S`, "m"));
    expect(result.stdout).toMatch(/^ {2}3 {2}no MCP client is installed here/m);
  });

  it("without --url it says which option is missing", () => {
    const result = runCli(["--home", tempHome()]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("--url is required");
    const removal = runCli(["--remove", "--home", tempHome()]);
    expect(removal.status).toBe(2);
    expect(removal.stderr).toContain("--remove needs --name (the entry's name) or --url");
  });

  it("a file it creates ends its last line", () => {
    const home = tempHome();
    homes.push(home);
    const cursor = layout("linux", home).cursor.file;
    expect(runCli(["--url", URL, "--platform", "linux", "--home", home, "--client", "cursor"]).status).toBe(0);
    expect(read(cursor)).toMatch(/\}\n$/);
  });

  it("an edge's base URL means its /mcp endpoint, under one name for the whole edge", () => {
    const { places, args } = setUp();
    const result = runCli(["--url", "https://mcp.example.com/", ...args.slice(2), "--client", "cursor"]);
    expect(result.status).toBe(0);
    expect((readJsonc(places.cursor.file).mcpServers as Record<string, unknown>)["company-mcp"]).toEqual({
      url: "https://mcp.example.com/mcp",
    });
  });

  it("--remove --url applies the same rules: it removes what --url would write", () => {
    const { home, args } = setUp();
    const before = snapshot(home);
    const result = runCli(["--url", "https://mcp.example.com/mcp/Everything", ...args.slice(2), "--remove"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('"Everything" is not a server name');
    expect(snapshot(home)).toEqual(before);
  });

  it("/mcp and a trailing slash are the edge's aggregated endpoint too", () => {
    const { places, args } = setUp();
    expect(runCli(["--url", "https://mcp.example.com/mcp/", ...args.slice(2), "--client", "cursor"]).status).toBe(0);
    expect((readJsonc(places.cursor.file).mcpServers as Record<string, unknown>)["company-mcp"]).toEqual({
      url: "https://mcp.example.com/mcp",
    });
  });

  it.each(["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"])(
    "an http URL on this machine (%s, the local edge) is accepted and the bridge told to allow it",
    (origin) => {
      const { places, args } = setUp();
      const local = `${origin}/mcp/everything`;
      expect(runCli(["--url", local, ...args.slice(2), "--client", "jetbrains"]).status).toBe(0);
      expect(readJsonc(places.jetbrains.file).mcpServers).toEqual({
        everything: { command: "npx", args: ["-y", "mcp-remote@0.15.1", local, "--allow-http"] },
      });
    },
  );

  it("--name must be a plain name", () => {
    const result = runCli(["--url", URL, "--name", "my server", "--home", tempHome()]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--name "my server"');
  });

  it("by default only installed clients are written; the others are skipped with the reason", () => {
    const home = tempHome();
    homes.push(home);
    const places = layout("darwin", home);
    mkdirSync(places.cursor.dir, { recursive: true });
    const result = runCli(["--url", URL, "--platform", "darwin", "--home", home]);
    expect(result.status).toBe(0);
    expect(readJsonc(places.cursor.file).mcpServers).toEqual({ everything: { url: URL } });
    expect(result.stdout).toContain(`not installed (no ${places["claude-desktop"].dir})`);
    expect(result.stdout).toMatch(/: 1 written, 5 skipped$/m);
    // Already as wanted counts as configured: a second run is as successful as the first.
    const again = runCli(["--url", URL, "--platform", "darwin", "--home", home]);
    expect(again.status).toBe(0);
    expect(again.stderr).toBe("");
    expect(again.stdout).toMatch(/: 1 unchanged, 5 skipped$/m);
    // Named explicitly, a client is written even where it looks uninstalled.
    expect(runCli(["--url", URL, "--platform", "darwin", "--home", home, "--client", "vscode"]).status).toBe(0);
    expect(readJsonc(places.vscode.file).servers).toEqual({ everything: { type: "http", url: URL } });
  });

  it("an unknown --client is refused with the list of known ones", () => {
    const result = runCli(["--url", URL, "--client", "emacs", "--home", tempHome()]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      "--client emacs: use one of claude-code, claude-desktop, vscode, cursor, windsurf, jetbrains, or all",
    );
  });
});

describe("a machine without any MCP client", () => {
  const emptyHome = () => {
    const home = tempHome();
    homes.push(home);
    return { home, places: layout("win32", home), args: ["--url", URL, "--platform", "win32", "--home", home] };
  };

  it("exits 3, writes nothing, and names each client and where it was looked for", () => {
    const { home, places, args } = emptyHome();
    const result = runCli(args);
    expect(result.status).toBe(3);
    expect(result.stdout).toMatch(/: 6 skipped$/m);
    expect(result.stderr).toContain("no MCP client found, so nothing was written; looked for ");
    for (const [label, id] of [
      ["Claude Code", "claude-code"],
      ["Claude Desktop", "claude-desktop"],
      ["VS Code", "vscode"],
      ["Cursor", "cursor"],
      ["Windsurf", "windsurf"],
      ["JetBrains AI Assistant", "jetbrains"],
    ] as const) {
      expect(result.stderr).toContain(`${label} (${places[id].dir})`);
    }
    expect(result.stderr).toContain("--client <id>");
    expect(snapshot(home).size).toBe(0);
  });

  it("--dry-run exits 3 as the run itself would, so a machine can be checked first", () => {
    const { args } = emptyHome();
    const result = runCli([...args, "--dry-run"]);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain("no MCP client found, so nothing would be written");
  });

  it("--remove exits 0: nothing to remove is what was asked for, and it says so", () => {
    const { home, args } = emptyHome();
    const result = runCli([...args, "--remove"]);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("no MCP client found, so there is nothing to remove");
    expect(snapshot(home).size).toBe(0);
  });

  it("a client named with --client is written there all the same, and the exit is 0", () => {
    const { places, args } = emptyHome();
    const result = runCli([...args, "--client", "cursor"]);
    expect(result.status).toBe(0);
    expect(readJsonc(places.cursor.file).mcpServers).toEqual({ everything: { url: URL } });
  });
});
