export class UsageError extends Error {}

/**
 * The MCP URL to write, from the edge's base URL or an MCP URL. A bare origin means the edge's
 * aggregated endpoint `/mcp`; any other path is taken as given (`/mcp/<server>` for one server).
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
  if (url.hash) throw new UsageError("--url must not have a #fragment");
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/mcp";
  return url.href.replace(/\/+$/, "");
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const DEFAULT_NAME = "company-mcp";

/** The entry's name: the server's own name for `/mcp/<server>`, else one name for the whole edge. */
export function defaultName(url: string): string {
  const server = /^\/mcp\/([^/]+)$/.exec(new URL(url).pathname)?.[1];
  return server && NAME.test(server) ? server : DEFAULT_NAME;
}

export function checkName(name: string): string {
  if (!NAME.test(name)) {
    throw new UsageError(
      `--name ${JSON.stringify(name)}: use letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)`,
    );
  }
  return name;
}
