import { resolve as resolvePath } from "node:path";
import { parseArgs } from "node:util";
import { CLIENT_IDS, CLIENTS, type ClientRecord } from "./clients.ts";
import { checkName, defaultName, mcpUrl, UsageError } from "./edge-url.ts";
import { PLATFORMS, type Platform } from "./locations.ts";

export interface Options {
  readonly url: string | undefined;
  readonly name: string;
  readonly clients: readonly ClientRecord[];
  readonly explicit: boolean;
  readonly mode: "write" | "remove";
  readonly dryRun: boolean;
  readonly platform: Platform | undefined;
  readonly home: string | undefined;
  readonly help: boolean;
}

/** The exit statuses, as the help text and client-config/README.md document them. */
export const EXIT = { ok: 0, failed: 1, usage: 2, noClient: 3 } as const;

export const USAGE = `Usage: mcp-edge-client-config --url <edge URL> [options]

Writes the edge's MCP URL into each MCP client's own configuration file.

  --url <url>        the edge's base URL (its /mcp is used), its /mcp, or one server's /mcp/<server>,
                     e.g. https://mcp.example.com/mcp/github; https (http only on localhost, 127.0.0.1 or [::1])
  --name <name>      the entry's name (default: the server's name for /mcp/<server>, else company-mcp)
  --client <id>      ${CLIENT_IDS.join(", ")}, or all; repeatable
                     (default: every client installed here, judged by its configuration directory)
  --dry-run          print what would change as a unified diff; write nothing
  --remove           remove the entry (and proxy variables this command wrote); --url or --name names it
  --platform <os>    darwin, linux or win32: use that system's file layout (for tests)
  --home <dir>       the home directory to write under (default: yours; on Windows %USERPROFILE%, with %APPDATA%)
  --help

HTTPS_PROXY and NO_PROXY, when set, are written where a client needs them.

Exit status (--dry-run exits as the run itself would):
  ${EXIT.ok}  each client found is configured (written, or already as wanted); with --remove, also when
     no client was found: there is nothing to remove
  ${EXIT.failed}  a file could not be written (the other clients' files still were)
  ${EXIT.usage}  a wrong option or --url; nothing was written
  ${EXIT.noClient}  no MCP client is installed here (judged by its configuration directory), so nothing was
     written; --client <id> writes a client's file even so`;

const DEFAULTS: Options = {
  url: undefined,
  name: "",
  clients: [],
  explicit: false,
  mode: "write",
  dryRun: false,
  platform: undefined,
  home: undefined,
  help: false,
};

export function parseOptions(argv: readonly string[]): Options {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  const help = values.help === true;
  if (help) return { ...DEFAULTS, help };
  const mode = values.remove ? "remove" : "write";
  const url = values.url === undefined ? undefined : mcpUrl(values.url);
  if (url === undefined && mode === "write") {
    throw new UsageError("--url is required: the edge's address, e.g. --url https://mcp.example.com");
  }
  if (url === undefined && values.name === undefined) {
    throw new UsageError("--remove needs --name (the entry's name) or --url (the address it was written for)");
  }
  const name = checkName(values.name ?? (url ? defaultName(url) : ""));
  const platform = values.platform;
  if (platform !== undefined && !PLATFORMS.includes(platform as Platform)) {
    throw new UsageError(`--platform ${platform}: use one of ${PLATFORMS.join(", ")}`);
  }
  const chosen = values.client ?? [];
  for (const id of chosen) {
    if (id !== "all" && !CLIENT_IDS.includes(id))
      throw new UsageError(`--client ${id}: use one of ${CLIENT_IDS.join(", ")}, or all`);
  }
  const clients =
    chosen.length === 0 || chosen.includes("all") ? CLIENTS : CLIENTS.filter((client) => chosen.includes(client.id));
  return {
    url,
    name,
    clients,
    explicit: chosen.length > 0,
    mode,
    dryRun: values["dry-run"] === true,
    platform: platform as Platform | undefined,
    home: values.home === undefined ? undefined : resolvePath(values.home),
    help,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: "string" },
      name: { type: "string" },
      client: { type: "string", multiple: true },
      "dry-run": { type: "boolean" },
      remove: { type: "boolean" },
      platform: { type: "string" },
      home: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
