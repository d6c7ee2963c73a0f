import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { edgeOAuth } from "../../auth/authorization-server.ts";
import { ADMIN_SCOPE } from "../../auth/groups/admin-scope.ts";
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

/** Reads the session cookie and checks its token at the edge's authorization server, for the dashboard's resource only. */
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
  if (!validated.scope.includes(ADMIN_SCOPE)) return { kind: "not-admin", user: validated.props };
  return { kind: "admin", user: validated.props, clientId: validated.clientId };
}
