/**
 * The MCP clients this edge knows, as data: how each is recognised and what it does differently. Used by the
 * consent page (a recognised name) and described for people in docs/clients.md; keep both in step.
 *
 * Recognition signals differ in strength. A Client ID Metadata Document URL and an https redirect URI on the
 * vendor's own host are verified: only the vendor can publish that document or receive a code sent there. A
 * `client_name`, a `software_id`, a loopback or private-use-scheme redirect URI are claims any program can make.
 */
export interface KnownClient {
  /** Stable id, for logs and docs. */
  id: string;
  /** What people call it. */
  displayName: string;
  publisher: string;
  recognisedBy: {
    /** CIMD client_ids the vendor publishes: an exact URL, or a prefix ending in `/` (any document on that host). */
    metadataUrls?: readonly string[];
    /** Redirect URIs, exactly. https ones on the vendor's host verify the client; others are hints. */
    redirectUris?: readonly string[];
    /** Private-use URI schemes (RFC 8252 §7.1) its redirect URIs use, without `:`; a hint, never proof. */
    redirectSchemes?: readonly string[];
    /** `client_name` values it registers with (self-asserted). */
    clientNames?: readonly RegExp[];
    /** `software_id` values it registers with (self-asserted). */
    softwareIds?: readonly string[];
  };
  quirks: ClientQuirks;
}

export interface ClientQuirks {
  /** How it gets a client_id here: a metadata document, dynamic registration, or either (it tries CIMD first). */
  registration: "cimd" | "dcr" | "cimd-or-dcr";
  /** Listens on a loopback callback whose port changes per sign-in (RFC 8252 §7.3 matching, any port). */
  loopbackAnyPort?: boolean;
  /** Registers `localhost` and `127.0.0.1` callbacks side by side and may use either. */
  localhostAndLoopbackIp?: boolean;
  /** Sometimes sends no `scope` (the edge grants `mcp`). */
  omitsScope?: boolean;
  /** Sometimes sends no `resource` (the edge grants the umbrella `/mcp`). */
  omitsResource?: boolean;
  /** Its sign-in comes back through an app-claimed URI scheme on the user's computer. */
  privateUseScheme?: boolean;
}

export const KNOWN_CLIENTS: readonly KnownClient[] = [
  {
    id: "claude-code",
    displayName: "Claude Code",
    publisher: "Anthropic",
    recognisedBy: {
      metadataUrls: ["https://claude.ai/oauth/claude-code-client-metadata"],
      clientNames: [/^Claude Code\b/],
    },
    quirks: {
      registration: "cimd-or-dcr",
      loopbackAnyPort: true,
      localhostAndLoopbackIp: true,
      omitsResource: true,
    },
  },
  {
    id: "claude",
    displayName: "Claude (claude.ai and Claude Desktop)",
    publisher: "Anthropic",
    recognisedBy: {
      redirectUris: ["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback"],
      clientNames: [/^Claude$/],
    },
    quirks: { registration: "dcr" },
  },
  {
    id: "chatgpt",
    displayName: "ChatGPT",
    publisher: "OpenAI",
    recognisedBy: {
      metadataUrls: ["https://chatgpt.com/", "https://openai.com/"],
      redirectUris: ["https://chatgpt.com/connector_platform_oauth_redirect"],
      clientNames: [/^ChatGPT\b/],
    },
    quirks: { registration: "cimd-or-dcr", omitsScope: true },
  },
  {
    id: "vscode",
    displayName: "Visual Studio Code",
    publisher: "Microsoft",
    recognisedBy: {
      metadataUrls: ["https://vscode.dev/oauth/client-metadata.json"],
      redirectUris: ["https://vscode.dev/redirect", "https://insiders.vscode.dev/redirect", "http://127.0.0.1:33418/"],
      clientNames: [/^Visual Studio Code\b/],
    },
    quirks: { registration: "cimd-or-dcr", loopbackAnyPort: true },
  },
  {
    id: "cursor",
    displayName: "Cursor",
    publisher: "Anysphere",
    recognisedBy: {
      redirectUris: ["cursor://anysphere.cursor-mcp/oauth/callback"],
      redirectSchemes: ["cursor"],
      clientNames: [/^Cursor\b/],
    },
    quirks: { registration: "dcr", privateUseScheme: true },
  },
  {
    id: "windsurf",
    displayName: "Windsurf",
    publisher: "Windsurf (Cognition)",
    recognisedBy: { redirectSchemes: ["windsurf"], clientNames: [/\bWindsurf\b/i] },
    quirks: { registration: "dcr", loopbackAnyPort: true },
  },
  {
    id: "jetbrains",
    displayName: "JetBrains IDE (AI Assistant)",
    publisher: "JetBrains",
    recognisedBy: { clientNames: [/\bJetBrains\b/i, /\bIntelliJ\b/i] },
    quirks: { registration: "dcr", loopbackAnyPort: true },
  },
  {
    id: "mcp-inspector",
    displayName: "MCP Inspector",
    publisher: "Model Context Protocol project",
    recognisedBy: {
      redirectUris: ["http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"],
      clientNames: [/^MCP Inspector\b/],
    },
    quirks: { registration: "dcr" },
  },
  {
    id: "mcp-remote",
    displayName: "mcp-remote (a local bridge for stdio-only apps)",
    publisher: "mcp-remote project",
    recognisedBy: {
      redirectUris: ["http://localhost:3334/oauth/callback"],
      clientNames: [/^MCP CLI (Client|Proxy)\b/],
      softwareIds: ["2e6dc280-f3c3-4e01-99a7-8181dbd1d23d"],
    },
    quirks: { registration: "dcr", loopbackAnyPort: true },
  },
];
