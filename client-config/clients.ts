// One record per MCP client: where it keeps its user-level configuration and what an entry looks like.
// Everything that differs between clients lives here as data; the code that writes files never asks
// which client it is writing for.

/** Where a path starts: the home directory, or the per-user application data directory
 * (`~/Library/Application Support` on macOS, `~/.config` on Linux, `%APPDATA%` on Windows). */
export type Base = "home" | "appData";

export interface Location {
  readonly base: Base;
  readonly segments: readonly string[];
}

/** How an entry for a remote server is shaped in this client's file. */
export type EntryShape =
  | "type-http" // {"type": "http", "url": …}
  | "url" // {"url": …}
  | "serverUrl" // {"serverUrl": …}
  | "mcp-remote"; // {"command": "npx", "args": ["-y", "mcp-remote@<version>", …]}: a local stdio bridge

export interface ClientRecord {
  readonly id: string;
  readonly label: string;
  /** A directory that exists once the client has been installed and run. */
  readonly installedDir: Location;
  readonly configFile: Location;
  /** JSON path of the object holding the servers, one key per server. */
  readonly serversPath: readonly string[];
  readonly shape: EntryShape;
  /** Why this shape: printed with every outcome for this client. */
  readonly why: string;
  /** Where the client's own process reads proxy variables, when they have to be written for it. */
  readonly proxyVariables?: { readonly file: Location; readonly path: readonly string[] } | undefined;
  /** Said when HTTPS_PROXY is set but nothing is written for this client. */
  readonly proxyNote?: string;
}

const EDITOR_PROXY = "it uses the editor's own proxy setting (http.proxy) or the system proxy; nothing written for it";

export const CLIENTS: readonly ClientRecord[] = [
  {
    id: "claude-code",
    label: "Claude Code",
    installedDir: { base: "home", segments: [".claude"] },
    configFile: { base: "home", segments: [".claude.json"] },
    serversPath: ["mcpServers"],
    shape: "type-http",
    why: "user scope in ~/.claude.json; speaks Streamable HTTP and OAuth itself (/mcp in Claude Code to sign in)",
    proxyVariables: { file: { base: "home", segments: [".claude", "settings.json"] }, path: ["env"] },
  },
  {
    id: "claude-desktop",
    label: "Claude Desktop",
    installedDir: { base: "appData", segments: ["Claude"] },
    configFile: { base: "appData", segments: ["Claude", "claude_desktop_config.json"] },
    serversPath: ["mcpServers"],
    shape: "mcp-remote",
    why:
      "through the mcp-remote bridge: Claude Desktop's config file starts only local (stdio) servers; " +
      "remote servers with OAuth are otherwise added by hand under Settings > Connectors",
  },
  {
    id: "vscode",
    label: "VS Code",
    installedDir: { base: "appData", segments: ["Code", "User"] },
    configFile: { base: "appData", segments: ["Code", "User", "mcp.json"] },
    serversPath: ["servers"],
    shape: "type-http",
    why: "user mcp.json; speaks Streamable HTTP and OAuth itself (start the server from MCP: List Servers to sign in)",
    proxyNote: EDITOR_PROXY,
  },
  {
    id: "cursor",
    label: "Cursor",
    installedDir: { base: "home", segments: [".cursor"] },
    configFile: { base: "home", segments: [".cursor", "mcp.json"] },
    serversPath: ["mcpServers"],
    shape: "url",
    why: "global ~/.cursor/mcp.json; speaks Streamable HTTP and OAuth itself (Settings > MCP to sign in)",
    proxyNote: EDITOR_PROXY,
  },
  {
    id: "windsurf",
    label: "Windsurf",
    installedDir: { base: "home", segments: [".codeium", "windsurf"] },
    configFile: { base: "home", segments: [".codeium", "windsurf", "mcp_config.json"] },
    serversPath: ["mcpServers"],
    shape: "serverUrl",
    why: "~/.codeium/windsurf/mcp_config.json; remote servers take serverUrl (not url) and sign in with OAuth",
    proxyNote: EDITOR_PROXY,
  },
  {
    id: "jetbrains",
    label: "JetBrains AI Assistant",
    installedDir: { base: "appData", segments: ["JetBrains"] },
    configFile: { base: "home", segments: [".ai", "mcp", "mcp.json"] },
    serversPath: ["mcpServers"],
    shape: "mcp-remote",
    why:
      "through the mcp-remote bridge: AI Assistant reads ~/.ai/mcp/mcp.json and documents no OAuth sign-in " +
      "for remote servers, so a local stdio bridge does the sign-in",
  },
];

export const CLIENT_IDS: readonly string[] = CLIENTS.map((client) => client.id);
