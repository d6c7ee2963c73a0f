import { localhostAllowedOrigins, originValidationResponse } from "@modelcontextprotocol/server";
import { type EdgeConfig, hostlessAllowedOrigins } from "../../contract/config/schema.ts";

/**
 * DNS-rebinding and cross-site protection for the MCP endpoint (MCP transports: a server MUST validate `Origin`).
 * A request without `Origin` (every native client) passes; a browser's must come from the edge itself, from a
 * local page (the MCP Inspector runs on localhost), or from a host the configuration allows. Returns the 403 to
 * answer, or undefined.
 */
export function refuseForeignOrigin(request: Request, config: EdgeConfig): Response | undefined {
  if (!request.headers.has("origin")) return undefined;
  // An entry that names no host allows nothing (/readyz names it): kept out, so that no Origin can ever equal it.
  const hostless = new Set(hostlessAllowedOrigins(config.mcpAllowedOrigins));
  const listed = config.mcpAllowedOrigins.filter((entry) => !hostless.has(entry));
  const allowed = [new URL(config.publicUrl).hostname, ...localhostAllowedOrigins(), ...listed];
  return originValidationResponse(request, allowed);
}
