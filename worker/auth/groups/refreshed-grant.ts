import {
  GrantType,
  type TokenExchangeCallbackOptions,
  type TokenExchangeCallbackResult,
} from "@cloudflare/workers-oauth-provider";
import { edgeConfig } from "../../config.ts";
import type { EdgeEnv, UserProps } from "../../env.ts";
import { MCP_SCOPE } from "../grantable-scopes.ts";
import { ADMIN_SCOPE, withAdminScopeChecked } from "./admin-scope.ts";
import { withGrantGroups } from "./grant-groups.ts";
import { GroupsUnavailable } from "./origin-groups.ts";

/**
 * `tokenExchangeCallback`: on each refresh the grant's groups are read again (source `google-directory`) and the new
 * access token carries them; `mcp:admin` stays only while the user is in an admin group. When the groups cannot be
 * read, the refresh still succeeds with the old ones (each MCP request then checks them itself and is refused while
 * they are too old) but without `mcp:admin`, which is never granted on groups that could not be confirmed.
 */
export async function refreshedGrant(
  options: TokenExchangeCallbackOptions<EdgeEnv>,
): Promise<TokenExchangeCallbackResult | undefined> {
  if (options.grantType !== GrantType.REFRESH_TOKEN) return undefined;
  const config = edgeConfig(options.env);
  const props = options.props as UserProps;
  let user = props;
  let confirmed = true;
  try {
    user = await withGrantGroups(config, props, options.clientId);
  } catch (error) {
    if (!(error instanceof GroupsUnavailable)) throw error;
    console.warn(`refresh kept the grant's earlier groups: ${error.message}`);
    confirmed = false;
  }
  const checked = confirmed
    ? withAdminScopeChecked(config.adminGroups, options.requestedScope, user.groups)
    : options.requestedScope.filter((scope) => scope !== ADMIN_SCOPE);
  return { newProps: user, accessTokenScope: checked.length > 0 ? checked : [MCP_SCOPE] };
}
