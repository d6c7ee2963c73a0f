import type { EdgeEnv } from "../env.ts";

/** A grant as the library names it. */
export interface GrantRef {
  userId: string;
  grantId: string;
}

/** The grant an authorization code or a token belongs to: the library writes each as `userId:grantId:secret`. */
export function grantOfToken(token: string | null | undefined): GrantRef | undefined {
  const [userId, grantId, secret, ...rest] = token?.split(":") ?? [];
  return userId && grantId && secret && rest.length === 0 ? { userId, grantId } : undefined;
}

/** The grant's turn could not be had: its object did not answer (a deploy resets objects) or too many wait. */
export class GrantTurnUnavailable extends Error {
  constructor(cause: unknown) {
    super(`the grant's turn could not be had (${(cause as Error)?.message ?? String(cause)})`, { cause });
    this.name = "GrantTurnUnavailable";
  }
}

/**
 * Runs work on a grant (a token request, a revocation) in the grant's turn (durable-objects/grant-turns.ts), so that
 * two requests presenting the same code or refresh token, or a refresh and a revocation, are handled one after the
 * other. The turn is given back once the work is done, in the background. Throws {@link GrantTurnUnavailable} when
 * the turn cannot be had: nothing of the work has run then.
 */
export async function inGrantTurn<T>(env: EdgeEnv, ctx: ExecutionContext, grant: GrantRef, work: () => Promise<T>): Promise<T> {
  const turns = env.GRANT_TURNS.get(env.GRANT_TURNS.idFromName(`${grant.userId}:${grant.grantId}`));
  let turn: string;
  try {
    turn = await turns.begin();
  } catch (error) {
    throw new GrantTurnUnavailable(error);
  }
  try {
    return await work();
  } finally {
    ctx.waitUntil(turns.end(turn).catch(() => {}));
  }
}
