import type { EdgeConfig } from "../../contract/config/schema.ts";
import { opsResource } from "../ops/paths.ts";
import type { OwnBrowserClient } from "./own-browser-client.ts";

/**
 * Whether a request for `resource` by this client must be refused (RFC 8707 `invalid_target`): only the edge's own
 * browser sign-ins (the ops dashboard's, the upstream consent's; `own`, as `ownClientOf` found the client) may ask for
 * the dashboard's resource. Any other client an administrator approves, however it names itself, would otherwise hold
 * a refreshable `mcp:admin` token for the dashboard, and with it every operator action there.
 */
export function opsResourceRefused(
  config: EdgeConfig,
  request: { resource?: string | string[] },
  own: OwnBrowserClient | null,
): boolean {
  const resources = Array.isArray(request.resource) ? request.resource : [request.resource];
  return resources.includes(opsResource(config)) && own === null;
}
