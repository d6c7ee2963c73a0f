import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { edgeOAuth } from "../../auth/authorization-server.ts";
import { AccountNotActive } from "../../auth/groups/account-not-active.ts";
import { ADMIN_SCOPE, isAdmin } from "../../auth/groups/admin-scope.ts";
import { currentGroups } from "../../auth/groups/current-groups.ts";
import { GroupsUnavailable } from "../../auth/groups/origin-groups.ts";
import { registeredOwnClientId } from "../../auth/own-browser-client.ts";
import type { EdgeEnv, UserProps } from "../../env.ts";
import { opsRedirectUri, opsResource } from "../paths.ts";
import { readCookie } from "./cookies.ts";
import { OPS_CLIENT } from "./ops-client.ts";

/**
 * Who is asking for the dashboard: nobody signed in (no cookie, or a token that is forged, expired, revoked or for
 * another resource), a signed-in user without `mcp:admin`, or an administrator.
 */
export type OpsCaller =
  | { kind: "signed-out" }
  | { kind: "not-admin"; user: UserProps }
  | { kind: "admin"; user: UserProps; clientId: string };

/**
 * Reads the session cookie and checks its token at the edge's authorization server, for the dashboard's resource only;
 * then, with `groups.source: "google-directory"`, the user's groups and account as an MCP request checks them
 * (`currentGroups`: the token's own while younger than `groups.ttlSeconds`, else read again, cached per isolate). A
 * session is an access token that is never refreshed: without this, a suspended administrator, or one removed from
 * `adminGroups`, would keep the dashboard until it expired (`accessTokenTtlSeconds`).
 */
export async function opsCaller(request: Request, config: EdgeConfig, env: EdgeEnv): Promise<OpsCaller> {
  const token = readCookie(request, config, "session");
  if (!token) return { kind: "signed-out" };
  const validated = await edgeOAuth(config)
    .authorizationServer.validateToken<UserProps>(opsResource(config), token, env)
    .catch(() => null);
  // A dashboard session is a token of the dashboard's own sign-in; the authorization server refuses this resource to
  // any other client, and a token that got one anyway is no session.
  if (!validated || validated.clientId !== (await registeredOwnClientId(env, OPS_CLIENT, opsRedirectUri(config))))
    return { kind: "signed-out" };
  const user = await checkedUser(config, validated.props, validated.clientId);
  if (!user) return { kind: "signed-out" };
  if (!validated.scope.includes(ADMIN_SCOPE) || !isAdmin(config.adminGroups, user.groups)) return { kind: "not-admin", user };
  return { kind: "admin", user, clientId: validated.clientId };
}

/**
 * The session's user with current groups, or undefined (the session counts as signed out) when their Workspace account
 * is not active, or when the groups cannot be read: access follows groups no older than the TTL, as for MCP requests.
 * The browser is then sent to sign in, which says why (Google or the edge refuses a gone account, the edge revoking
 * every grant of the user; 503 while the groups cannot be read). Nothing is remembered of a gone account, so the
 * session opens no page while the account stays so.
 */
async function checkedUser(config: EdgeConfig, user: UserProps, clientId: string): Promise<UserProps | undefined> {
  try {
    return await currentGroups(config, user, clientId);
  } catch (error) {
    if (error instanceof AccountNotActive) console.warn(`ops session ended: the Workspace account is ${error.account}`);
    else if (error instanceof GroupsUnavailable) console.warn(`ops session ended: ${error.message}`);
    else throw error;
    return undefined;
  }
}
