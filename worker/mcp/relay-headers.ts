/**
 * Which headers cross the edge. Allowlists, not blocklists: a client's Authorization, cookies and
 * anything unknown stay at the edge, and only the MCP transport's own headers reach the origin and come back.
 */
const TO_ORIGIN = ["accept", "content-type", "mcp-protocol-version", "mcp-session-id", "last-event-id", "mcp-method", "mcp-name"];
const TO_CLIENT = ["content-type", "mcp-session-id", "mcp-protocol-version", "cache-control", "retry-after"];

/** `Mcp-Param-*` headers come from tool schemas (2026-07-28) and are forwarded whatever their name. */
const isParamHeader = (name: string) => name.startsWith("mcp-param-");

export function headersToOrigin(incoming: Headers): Headers {
  return pick(incoming, (name) => TO_ORIGIN.includes(name) || isParamHeader(name));
}

export function headersToClient(fromOrigin: Headers): Headers {
  return pick(fromOrigin, (name) => TO_CLIENT.includes(name));
}

function pick(headers: Headers, keep: (name: string) => boolean): Headers {
  const picked = new Headers();
  headers.forEach((value, name) => {
    if (keep(name)) picked.set(name, value);
  });
  return picked;
}
