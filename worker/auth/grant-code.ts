import type { AuthRequest, OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import type { UserProps } from "../env.ts";
import { grantOwnerId } from "./grant-owner.ts";
import { grantableScopes } from "./grantable-scopes.ts";
import { withAdminScopeChecked } from "./groups/admin-scope.ts";

/**
 * Stores the grant for a signed-in user and returns where to send the browser: the client's redirect URI with the
 * edge's code. `mcp:admin` is granted only if the user is in one of `adminGroups` (EdgeConfig) now.
 */
export async function grantCode(
  oauth: OAuthHelpers,
  request: AuthRequest,
  user: UserProps,
  adminGroups: readonly string[] = [],
): Promise<string> {
  const { redirectTo } = await oauth.completeAuthorization({
    request,
    userId: await grantOwnerId(user.sub),
    // Readable without a token (props are encrypted): names the user when the grant is revoked for reuse.
    metadata: { sub: user.sub, email: user.email },
    scope: withAdminScopeChecked(adminGroups, grantableScopes(request.scope), user.groups),
    props: user,
  });
  return redirectTo;
}
