import type { EdgeConfig } from "../../contract/config/schema.ts";
import { WARM_PATH, type WarmRequest } from "../../contract/warm-request.ts";
import type { EdgeEnv, UserProps } from "../env.ts";
import { serverSegment } from "../mcp/server-path.ts";
import { originAffinity } from "./affinity.ts";
import { fetchOrigin } from "./fetch-origin.ts";

/**
 * At the end of a sign-in, asks the origin to start the user's upstreams in the background, so that their first call
 * does not wait for a spawn. The request carries the user's stickiness like their calls do, so the upstreams start on
 * the instance their calls will reach. It never fails the sign-in: run it in `ctx.waitUntil`; a failure is logged.
 */
export async function warmUpstreams(
  env: EdgeEnv,
  config: EdgeConfig,
  user: UserProps,
  clientId: string,
  resource: string | string[] | undefined,
): Promise<void> {
  const servers = serversSignedInFor(config, resource);
  if (!config.warmOnSignIn || servers.length === 0) return;
  const body: WarmRequest = { servers };
  try {
    const claims = { sub: user.sub, email: user.email, groups: user.groups, client_id: clientId, purpose: "warm" as const };
    const init = { method: "POST", headers: new Headers({ "content-type": "application/json" }), body: JSON.stringify(body) };
    const response = await fetchOrigin(config, WARM_PATH, claims, init, originAffinity(env));
    await response.body?.cancel();
    if (response.status !== 202) console.warn(`starting upstreams at sign-in: the origin answered ${response.status}`);
  } catch (error) {
    console.warn(`starting upstreams at sign-in: the origin could not be reached (${String(error)})`);
  }
}

/**
 * The servers the client signed in for: the one its resource names (`<publicUrl>/mcp/<server>`), or every server for
 * the umbrella resource `/mcp` (also what a client that names no resource gets). Nothing else is started.
 */
export function serversSignedInFor(config: EdgeConfig, resource: string | string[] | undefined): string[] {
  if (resource === undefined) return config.servers;
  const named = new Set<string>();
  for (const url of [resource].flat()) {
    const pathname = pathOf(url);
    if (pathname === "/mcp" || pathname === "/mcp/") return config.servers;
    const server = pathname && serverSegment(pathname);
    if (server && config.servers.includes(server)) named.add(server);
  }
  return [...named];
}

function pathOf(url: string): string | undefined {
  try {
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
}
