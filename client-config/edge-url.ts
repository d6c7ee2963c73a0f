import { ServerName, ServiceUrl } from "../contract/config/schema.ts";

export class UsageError extends Error {}

/** The URLs the edge serves MCP at, spelled for the edge the user named. */
const forms = (edge: string) => `${edge} (its /mcp), ${edge}/mcp (every server, aggregated) or ${edge}/mcp/<server> (one server)`;

/**
 * The MCP URL to write, from the edge's base URL or an MCP URL. A bare origin means the edge's
 * aggregated endpoint `/mcp`; otherwise the path must be one the edge serves, `/mcp` or `/mcp/<server>`:
 * anything else would be written into every client and fail there, one user at a time.
 */
export function mcpUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(input)} is not a URL; give the edge's address, e.g. https://mcp.example.com`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError(`--url must be an http(s) URL, not ${url.protocol}; e.g. https://mcp.example.com/mcp`);
  }
  if (url.username || url.password) {
    throw new UsageError("--url must not carry a user name or password: it would be written in plain text into every client");
  }
  // The edge's own rule for its publicUrl (https, plain http only on a loopback host), checked on the origin
  // alone so that nothing but the scheme and host can fail it.
  if (!ServiceUrl.safeParse(url.origin).success) {
    const https = new URL(url.href);
    https.protocol = "https:";
    throw new UsageError(
      `--url ${input}: plain http is accepted only for an edge on this machine (localhost, 127.0.0.1 or [::1]); ` +
        "anywhere else the users' sign-in tokens would cross the network unencrypted, and the edge serves only https. " +
        `Use ${https.href.replace(/\/+$/, "")}`,
    );
  }
  // An empty `#` or `?` leaves hash and search empty but stays in the URL that would be written.
  if (url.href.includes("#")) throw new UsageError(`--url must not have a #fragment; use ${forms(url.origin)}`);
  if (url.href.includes("?")) throw new UsageError(`--url must not have a ?query: the edge takes none; use ${forms(url.origin)}`);
  const path = url.pathname.replace(/\/+$/, "") || "/mcp";
  const server = /^\/mcp\/([^/]+)$/.exec(path)?.[1];
  if (path !== "/mcp" && server === undefined) {
    throw new UsageError(`--url ${input}: the path ${path} is none of the edge's MCP URLs; use ${forms(url.origin)}`);
  }
  if (server !== undefined) {
    const name = ServerName.safeParse(server);
    if (!name.success) {
      const rule = name.error.issues.map((issue) => issue.message).join("; ");
      throw new UsageError(
        `--url ${input}: "${server}" is not a server name (${rule}); spell it as the edge's configuration does, ` +
          `e.g. ${url.origin}/mcp/github`,
      );
    }
  }
  url.pathname = path;
  return url.href;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const DEFAULT_NAME = "company-mcp";

/** The entry's name: the server's own name for `/mcp/<server>` (`mcpUrl` checked it), else one name for the whole edge. */
export function defaultName(url: string): string {
  return /^\/mcp\/([^/]+)$/.exec(new URL(url).pathname)?.[1] ?? DEFAULT_NAME;
}

export function checkName(name: string): string {
  if (!NAME.test(name)) {
    throw new UsageError(
      `--name ${JSON.stringify(name)}: use letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)`,
    );
  }
  return name;
}
