import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { EdgeEnv } from "../../env.ts";
import { edgeOAuth } from "../authorization-server.ts";
import { grantOwnerId } from "../grant-owner.ts";
import { inGrantTurn } from "../grant-turn.ts";
import { forgetValidatedTokens } from "../token-cache.ts";
import { normalizedEmail, type SignedOut, SignOutIncomplete } from "../user-grants.ts";

/**
 * Revokes the grants of one user, `sub`, made under `email`: each MCP client's and each dashboard session, with their
 * tokens. For a state the origin read by `sub` (the Workspace id), which is that person's alone: signing out the
 * address (`signOutEverywhere`) would also end the grants of whoever holds it now, a new hire given a leaver's address.
 * A grant of the same `sub` under another address (the account's new one, after a rename) is not this state's and is
 * left to its own check. As `signOutEverywhere`: each in its grant's turn, and this isolate forgets the tokens it
 * validated; throws SignOutIncomplete with what it did revoke.
 */
export async function signOutSub(
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  sub: string,
  email: string,
): Promise<SignedOut> {
  const oauth = edgeOAuth(config).authorizationServer.getOAuthApi(env);
  const userId = await grantOwnerId(sub);
  const done: SignedOut = { revoked: 0, subs: [] };
  try {
    let cursor: string | undefined;
    do {
      const page = await oauth.listUserGrants(userId, cursor === undefined ? {} : { cursor });
      for (const grant of page.items) {
        const metadata = (grant.metadata ?? {}) as { sub?: unknown; email?: unknown };
        if (metadata.sub !== sub || typeof metadata.email !== "string") continue;
        if (normalizedEmail(metadata.email) !== normalizedEmail(email)) continue;
        // In the grant's turn: a refresh under way would otherwise write the grant back after its revocation.
        await inGrantTurn(env, ctx, { userId, grantId: grant.id }, () => oauth.revokeGrant(grant.id, userId));
        done.revoked += 1;
        done.subs = [sub];
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
  } catch (error) {
    throw new SignOutIncomplete(done, error);
  } finally {
    forgetValidatedTokens();
  }
  return done;
}
