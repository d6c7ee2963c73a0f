/**
 * How the aggregated endpoint `/mcp` names an upstream's tools and prompts: `<server>__<name>` (shortened by the
 * origin past 64 characters). Both tiers read the server back the same way: the edge for its audit trail, the
 * origin to route the call.
 */
export const AGGREGATED_NAME_SEPARATOR = "__";

/**
 * The configured server a public name belongs to: the text before the first `__`, which is a whole server name since
 * server names never contain `_`. The upstream's own name, after it, is never split.
 */
export function serverOfPublicName(name: string, servers: readonly string[]): string | undefined {
  const end = name.indexOf(AGGREGATED_NAME_SEPARATOR);
  if (end <= 0) return undefined;
  const server = name.slice(0, end);
  return servers.includes(server) ? server : undefined;
}
