import type { OAuthResourceContext } from "@cloudflare/workers-oauth-provider";
import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { type AuditFacts, recordAudit } from "../../audit/record.ts";
import { edgeConfig } from "../../config.ts";
import type { EdgeEnv, UserProps } from "../../env.ts";
import { auditedTarget } from "../../mcp/audited-target.ts";
import { requestFacts } from "../../mcp/inspect-request.ts";
import { JSON_RPC, jsonRpcError } from "../../mcp/json-rpc-error.ts";
import { readBody } from "../../mcp/read-body.ts";
import { serverOf } from "../../mcp/server-path.ts";
import { AccountNotActive, goneAccountWording } from "./account-not-active.ts";
import { currentGroups } from "./current-groups.ts";
import { signOutGoneAccount } from "./directory-sign-out.ts";
import { GroupsUnavailable } from "./origin-groups.ts";

/** What a client is told to wait before retrying while the groups cannot be read. */
const GROUPS_RETRY_AFTER_SECONDS = 10;

/**
 * The MCP request's user with groups fresh enough to sign its assertion with (see `currentGroups`), or the JSON-RPC
 * error that refuses the request: 503 (audited) when they cannot be read, since access follows groups no older than
 * the TTL, never older ones (fail closed); 401 `invalid_token` when the origin says the user's Workspace account is
 * suspended, archived or deleted, after every grant of theirs is revoked (see `refuseGoneAccount`). The 503's audit
 * row names the server, method and tool `request` asks for (read, body too, only then: it goes no further).
 */
export async function userWithCurrentGroups(
  env: EdgeEnv,
  ctx: OAuthResourceContext<UserProps>,
  request?: Request,
): Promise<UserProps | Response> {
  const user = ctx.props;
  const config = edgeConfig(env);
  try {
    return await currentGroups(config, user, ctx.auth.clientId ?? "unknown");
  } catch (error) {
    if (error instanceof AccountNotActive) return refuseGoneAccount(env, ctx, error);
    if (!(error instanceof GroupsUnavailable)) throw error;
    console.error(`MCP request refused: ${error.message}`);
    recordAudit(env, ctx, {
      kind: "mcp.request",
      userSub: user.sub,
      userEmail: user.email,
      clientId: ctx.auth.clientId,
      ...(request && (await refusedTarget(request, config))),
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

/**
 * What a request refused before it was admitted names, for its audit row as the MCP handler would record it: the
 * server of its path (a known one, or every server on `/mcp`), its method and the tool, prompt or URI it uses. The body
 * is read here only because the request goes no further: the handler never reads it, so nothing is parsed twice.
 */
async function refusedTarget(request: Request, config: EdgeConfig): Promise<Partial<AuditFacts>> {
  const read = await readBody(request).catch(() => null);
  const facts = requestFacts(request, read === null ? null : read.text);
  const server = serverOf(new URL(request.url).pathname, config.servers);
  const target = server.success ? auditedTarget(server.name, facts, config.servers) : undefined;
  return {
    server: target?.server,
    method: facts.method,
    tool: target?.tool,
    protocolVersion: facts.protocolVersion,
    ...(read?.text !== undefined && { requestBytes: read.bytes }),
  };
}

/**
 * The user's account is not active at the Workspace: every grant of theirs (each client's, each dashboard session) is
 * revoked before the answer, so that a 401 means what it says and the client's next step (a refresh, a new sign-in)
 * is refused too; a suspended user's requests are rare, and the wait is theirs alone. The answer is 401 with a Bearer
 * challenge `invalid_token` (the token no longer opens anything) that says why, and the same words as a JSON-RPC error.
 */
async function refuseGoneAccount(env: EdgeEnv, ctx: OAuthResourceContext<UserProps>, gone: AccountNotActive): Promise<Response> {
  await signOutGoneAccount(env, ctx, edgeConfig(env), gone, {
    at: "mcp-request",
    httpStatus: 401,
    ...(ctx.auth.clientId && { clientId: ctx.auth.clientId }),
  });
  const wording = goneAccountWording(gone);
  const description = wording.replace(/["\\]/g, "").replace(/[^\x20-\x7e]+/g, " ");
  const challenge = `Bearer realm="OAuth", error="invalid_token", error_description="${description}", resource_metadata="${resourceMetadataUrl(ctx.auth.audience)}"`;
  return jsonRpcError(401, undefined, JSON_RPC.invalidRequest, wording, {
    "www-authenticate": challenge,
    "cache-control": "no-store",
  });
}

/** RFC 9728 §3.1: where the protected resource's metadata is, for the resource the token was accepted for. */
function resourceMetadataUrl(resource: string): string {
  const parsed = new URL(resource);
  const suffix = parsed.pathname === "/" ? "" : parsed.pathname;
  return `${parsed.origin}/.well-known/oauth-protected-resource${suffix}${parsed.search}`;
}
