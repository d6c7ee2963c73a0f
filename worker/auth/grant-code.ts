import type { AuthRequest, OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import type { UserProps } from "../env.ts";
import { grantOwnerId } from "./grant-owner.ts";
import { grantableScopes } from "./grantable-scopes.ts";

/** Stores the grant for a signed-in user and returns where to send the browser: the client's redirect URI with the edge's code. */
export async function grantCode(oauth: OAuthHelpers, request: AuthRequest, user: UserProps): Promise<string> {
  const { redirectTo } = await oauth.completeAuthorization({
    request,
    userId: await grantOwnerId(user.sub),
    // Readable without a token (props are encrypted): names the user when the grant is revoked for reuse.
    metadata: { sub: user.sub, email: user.email },
    scope: grantableScopes(request.scope),
    props: user,
  });
  return redirectTo;
}
