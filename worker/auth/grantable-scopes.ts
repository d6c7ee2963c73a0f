import { ADMIN_SCOPE } from "./groups/admin-scope.ts";

/** The scope every MCP client asks for first; finer scopes arrive with per-tool policy. */
export const MCP_SCOPE = "mcp";

/** Every scope this edge defines; anything else a client asks for is not granted. `mcp:admin` only to admin groups. */
export const GRANTABLE_SCOPES: readonly string[] = [MCP_SCOPE, ADMIN_SCOPE, "offline_access"];

/**
 * The scopes granted for a request: those asked for that this edge defines, always with the baseline `mcp`
 * (clients that send no scope, or only unknown ones, get it). RFC 6749 §3.3 lets the server grant less than
 * asked; the token response names what was granted. Whether `mcp:admin` stays is the caller's to check.
 */
export function grantableScopes(requested: readonly string[]): string[] {
  const known = new Set(requested.filter((scope) => GRANTABLE_SCOPES.includes(scope)));
  return [MCP_SCOPE, ...[...known].filter((scope) => scope !== MCP_SCOPE)];
}
