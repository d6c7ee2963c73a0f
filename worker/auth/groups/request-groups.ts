import type { OAuthResourceContext } from "@cloudflare/workers-oauth-provider";
import { recordAudit } from "../../audit/record.ts";
import { edgeConfig } from "../../config.ts";
import type { EdgeEnv, UserProps } from "../../env.ts";
import { JSON_RPC, jsonRpcError } from "../../mcp/json-rpc-error.ts";
import { currentGroups } from "./current-groups.ts";
import { GroupsUnavailable } from "./origin-groups.ts";

/** What a client is told to wait before retrying while the groups cannot be read. */
const GROUPS_RETRY_AFTER_SECONDS = 10;

/**
 * The MCP request's user with groups fresh enough to sign its assertion with (see `currentGroups`), or the JSON-RPC
 * error (503, audited) that refuses the request when they cannot be read: access follows groups no older than the
 * TTL, never older ones (fail closed).
 */
export async function userWithCurrentGroups(env: EdgeEnv, ctx: OAuthResourceContext<UserProps>): Promise<UserProps | Response> {
  const user = ctx.props;
  try {
    return await currentGroups(edgeConfig(env), user, ctx.auth.clientId ?? "unknown");
  } catch (error) {
    if (!(error instanceof GroupsUnavailable)) throw error;
    console.error(`MCP request refused: ${error.message}`);
    recordAudit(env, ctx, {
      kind: "mcp.request",
      userSub: user.sub,
      userEmail: user.email,
      clientId: ctx.auth.clientId,
      outcome: "error",
      errorCode: JSON_RPC.upstreamUnavailable,
      httpStatus: 503,
      latencyMs: 0,
    });
    const message = `${error.message}. Access is refused until they can be checked again; try again shortly.`;
    return jsonRpcError(503, undefined, JSON_RPC.upstreamUnavailable, message, {
      "retry-after": String(GROUPS_RETRY_AFTER_SECONDS),
    });
  }
}
