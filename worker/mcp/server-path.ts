import { ServerName } from "../../contract/config/schema.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";

/**
 * The `<server>` of `/mcp/<server>`, also under the protected-resource metadata prefix, as it appears in the
 * path (still percent-encoded); undefined for any other path. The one place the edge reads a server from a URL.
 */
export function serverSegment(pathname: string): string | undefined {
  return /^(?:\/\.well-known\/oauth-protected-resource)?\/mcp\/([^/]+)\/?$/.exec(pathname)?.[1];
}

export type ServerOfPath = { success: true; name: string } | { success: false; message: string };

/**
 * Where `/mcp` leads, for a path that names no server the edge serves. The configured servers are not listed: the edge
 * does not know the policy, and a server's name (`hr-payroll`) must not reach a user it refuses; `/mcp` lists theirs.
 */
const SEE_MCP = "connect to /mcp for every server you may use";

/** The server an MCP path names when the edge serves it (every server, for `/mcp` itself), or why it names none. */
export function serverOf(pathname: string, servers: readonly string[]): ServerOfPath {
  const segment = serverSegment(pathname);
  if (!segment) {
    // `/mcp` itself: every server the user may use, aggregated by the origin.
    if (/^\/mcp\/?$/.test(pathname)) return { success: true, name: ALL_SERVERS };
    return { success: false, message: `${SEE_MCP}, or to /mcp/<server> for one of them` };
  }
  // Server names need no percent-encoding; an encoded (or malformed, like %zz) segment is not a server name.
  const name = ServerName.safeParse(segment);
  if (!name.success) return { success: false, message: `"${segment}" is not a server name` };
  return servers.includes(name.data)
    ? { success: true, name: name.data }
    : { success: false, message: `unknown server "${name.data}"; ${SEE_MCP}` };
}
