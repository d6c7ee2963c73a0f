import { localhostAllowedOrigins, originValidationResponse } from "@modelcontextprotocol/server";
import type { EdgeConfig } from "../../contract/config/schema.ts";

/**
 * DNS-rebinding and cross-site protection for the MCP endpoint (MCP transports: a server MUST validate `Origin`).
 * A request without `Origin` (every native client) passes; a browser's must come from the edge itself, from a
 * local page (the MCP Inspector runs on localhost), or from a host the configuration allows. Returns the 403 to
 * answer, or undefined.
 */
export function refuseForeignOrigin(request: Request, config: EdgeConfig): Response | undefined {
  if (!request.headers.has("origin")) return undefined;
  const allowed = [new URL(config.publicUrl).hostname, ...localhostAllowedOrigins(), ...config.mcpAllowedOrigins];
  return originValidationResponse(request, allowed);
}
