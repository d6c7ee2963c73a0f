import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { EdgeEnv } from "../env.ts";
import { opsResource } from "../ops/paths.ts";
import { ownClientOf } from "./own-clients.ts";

/**
 * Only the edge's own browser sign-ins (the ops dashboard's, the upstream consent's) may ask for the dashboard's
 * resource. Any other client an administrator approves, however it names itself, would otherwise hold a refreshable
 * `mcp:admin` token for the dashboard, and with it every operator action there.
 */
export async function mayAskForOpsResource(env: EdgeEnv, config: EdgeConfig, clientId: string): Promise<boolean> {
  return (await ownClientOf(env, config, clientId)) !== null;
}

/** Whether a request for `resource` by this client must be refused (RFC 8707 `invalid_target`). */
export async function opsResourceRefused(
  env: EdgeEnv,
  config: EdgeConfig,
  request: { clientId: string; resource?: string | string[] },
): Promise<boolean> {
  const resources = Array.isArray(request.resource) ? request.resource : [request.resource];
  if (!resources.includes(opsResource(config))) return false;
  return !(await mayAskForOpsResource(env, config, request.clientId));
}
