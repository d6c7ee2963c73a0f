import type { AuthRequest, OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import type { UserProps } from "../env.ts";
import { grantOwnerId } from "./grant-owner.ts";
import { grantableScopes } from "./grantable-scopes.ts";
import { withAdminScopeChecked } from "./groups/admin-scope.ts";
import { rememberGrantOwner } from "./user-grants.ts";

/**
 * Stores the grant for a signed-in user and returns where to send the browser: the client's redirect URI with the
 * edge's code. `mcp:admin` is granted only if the user is in one of `adminGroups` (EdgeConfig) now. The user's e-mail
 * files the grant's owner in `index` (OAUTH_KV) first, so that an administrator can sign them out everywhere
 * (user-grants.ts): a grant is never made that the index cannot find.
 */
export async function grantCode(
  oauth: OAuthHelpers,
  request: AuthRequest,
  user: UserProps,
  adminGroups: readonly string[],
  index: KVNamespace,
): Promise<string> {
  const userId = await grantOwnerId(user.sub);
  if (user.email) await rememberGrantOwner(index, user.email, userId);
  const { redirectTo } = await oauth.completeAuthorization({
    request,
    userId,
    // Readable without a token (props are encrypted): names the user when the grant is revoked for reuse.
    metadata: { sub: user.sub, email: user.email },
    scope: withAdminScopeChecked(adminGroups, grantableScopes(request.scope), user.groups),
    props: user,
  });
  return redirectTo;
}
