import {
  GrantType,
  OAuthError,
  type TokenExchangeCallbackOptions,
  type TokenExchangeCallbackResult,
} from "@cloudflare/workers-oauth-provider";
import { edgeConfig } from "../../config.ts";
import type { EdgeEnv, UserProps } from "../../env.ts";
import { MCP_SCOPE } from "../grantable-scopes.ts";
import { AccountNotActive, goneAccountWording } from "./account-not-active.ts";
import { ADMIN_SCOPE, withAdminScopeChecked } from "./admin-scope.ts";
import { withGrantGroups } from "./grant-groups.ts";
import { GroupsUnavailable } from "./origin-groups.ts";
import { noteRefusedRefresh } from "./refused-refreshes.ts";

/**
 * `tokenExchangeCallback`: on each refresh the grant's groups are read again (source `google-directory`) and the new
 * access token carries them; `mcp:admin` stays only while the user is in an admin group. When the groups cannot be
 * read, the refresh still succeeds with the old ones (each MCP request then checks them itself and is refused while
 * they are too old) but without `mcp:admin`, which is never granted on groups that could not be confirmed. When the
 * origin says the user's Workspace account is not active, the refresh is refused with `invalid_grant` (the library then
 * revokes this grant), and the token endpoint signs the user out everywhere after this grant's turn
 * (refused-refreshes.ts): this callback runs inside the turn.
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
    if (error instanceof AccountNotActive) {
      noteRefusedRefresh({ userId: options.userId, grantId: options.grantId }, error);
      throw new OAuthError("invalid_grant", {
        description: goneAccountWording(error),
        // Its check, as the log line and the refusal's audit event name it (token-refusals.ts).
        internal: { category: "token-exchange-callback", reason: "account_not_active" },
      });
    }
    if (!(error instanceof GroupsUnavailable)) throw error;
    console.warn(`refresh kept the grant's earlier groups: ${error.message}`);
    confirmed = false;
  }
  const checked = confirmed
    ? withAdminScopeChecked(config.adminGroups, options.requestedScope, user.groups)
    : options.requestedScope.filter((scope) => scope !== ADMIN_SCOPE);
  return { newProps: user, accessTokenScope: checked.length > 0 ? checked : [MCP_SCOPE] };
}
