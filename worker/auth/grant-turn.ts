import type { EdgeEnv } from "../env.ts";

/** A grant as the library names it. */
export interface GrantRef {
  userId: string;
  grantId: string;
}

/** The grant an authorization code or a refresh token belongs to: the library writes both as `userId:grantId:secret`. */
export function grantOfToken(token: string | null | undefined): GrantRef | undefined {
  const [userId, grantId, secret, ...rest] = token?.split(":") ?? [];
  return userId && grantId && secret && rest.length === 0 ? { userId, grantId } : undefined;
}

/**
 * Runs a token request on a grant in the grant's turn (durable-objects/grant-turns.ts), so that two requests
 * presenting the same code or refresh token are handled one after the other. The turn is given back once the
 * answer is ready, in the background.
 */
export async function inGrantTurn<T>(env: EdgeEnv, ctx: ExecutionContext, grant: GrantRef, handle: () => Promise<T>): Promise<T> {
  const turns = env.GRANT_TURNS.get(env.GRANT_TURNS.idFromName(`${grant.userId}:${grant.grantId}`));
  const turn = await turns.begin();
  try {
    return await handle();
  } finally {
    ctx.waitUntil(turns.end(turn));
  }
}
