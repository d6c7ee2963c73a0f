import type { ValidatedAccessToken } from "@cloudflare/workers-oauth-provider";
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

/** The cookie's session token, valid at the edge's authorization server for the dashboard's resource and client. */
export interface OpsSession {
  token: string;
  validated: ValidatedAccessToken<UserProps>;
}

/**
 * The session the cookie holds, or undefined when there is none (no cookie, or a token that is forged, expired,
 * revoked or for another resource or client). It says nothing of the user's groups or account: sign-out ends any
 * such session, whether or not it still opens a page.
 */
export async function opsSession(request: Request, config: EdgeConfig, env: EdgeEnv): Promise<OpsSession | undefined> {
  const token = readCookie(request, config, "session");
  if (!token) return undefined;
  const validated = await edgeOAuth(config)
    .authorizationServer.validateToken<UserProps>(opsResource(config), token, env)
    .catch(() => null);
  // A dashboard session is a token of the dashboard's own sign-in; the authorization server refuses this resource to
  // any other client, and a token that got one anyway is no session.
  if (!validated || validated.clientId !== (await registeredOwnClientId(env, OPS_CLIENT, opsRedirectUri(config))))
    return undefined;
  return { token, validated };
}

/** Revokes the session's grant, so that no copy of its cookie opens the dashboard any more. */
export async function revokeOpsSession(session: OpsSession, config: EdgeConfig, env: EdgeEnv): Promise<void> {
  const oauth = edgeOAuth(config).authorizationServer.getOAuthApi(env);
  const token = await oauth.unwrapToken(session.token);
  if (token) await oauth.revokeGrant(token.grantId, token.userId);
}

/**
 * Checks the cookie's session (`opsSession`); then, with `groups.source: "google-directory"`, the user's groups and
 * account as an MCP request checks them (`currentGroups`: the token's own while younger than `groups.ttlSeconds`, else
 * read again, cached per isolate). A session is an access token that is never refreshed: without this, a suspended
 * administrator, or one removed from `adminGroups`, would keep the dashboard until it expired (`accessTokenTtlSeconds`).
 */
export async function opsCaller(request: Request, config: EdgeConfig, env: EdgeEnv): Promise<OpsCaller> {
  const session = await opsSession(request, config, env);
  if (!session) return { kind: "signed-out" };
  const { validated } = session;
  const user = await checkedUser(config, session, env);
  if (!user) return { kind: "signed-out" };
  if (!validated.scope.includes(ADMIN_SCOPE) || !isAdmin(config.adminGroups, user.groups)) return { kind: "not-admin", user };
  return { kind: "admin", user, clientId: validated.clientId };
}

/**
 * The session's user with current groups, or undefined (the session counts as signed out) when their Workspace account
 * is not active, or when the groups cannot be read: access follows groups no older than the TTL, as for MCP requests.
 * The browser is then sent to sign in, which says why (Google or the edge refuses a gone account, the edge revoking
 * every grant of the user; 503 while the groups cannot be read). A gone account's session is revoked here and now:
 * a copy of its cookie must not open the dashboard again if the account comes back before the token expires. An
 * outage revokes nothing (it says nothing of the user), the session simply opens no page while it lasts.
 */
async function checkedUser(config: EdgeConfig, session: OpsSession, env: EdgeEnv): Promise<UserProps | undefined> {
  try {
    return await currentGroups(config, session.validated.props, session.validated.clientId);
  } catch (error) {
    if (error instanceof AccountNotActive) {
      console.warn(`ops session ended: the Workspace account is ${error.account}; its grant is revoked`);
      await revokeOpsSession(session, config, env);
    } else if (error instanceof GroupsUnavailable) console.warn(`ops session ended: ${error.message}`);
    else throw error;
    return undefined;
  }
}
