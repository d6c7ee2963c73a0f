import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { recordAudit } from "../../audit/record.ts";
import type { EdgeEnv } from "../../env.ts";
import { type SignedOut, SignOutIncomplete, signOutEverywhere, signOutSub } from "../user-grants.ts";
import type { AccountNotActive } from "./account-not-active.ts";

/** Who signs the user out in the audit trail: the Workspace Directory, not an operator (`operator:<who>`). */
export const DIRECTORY_SIGN_OUT_CLIENT = "directory:google";

/** What the user was refused when their account was found not active. */
export type RefusedAt = "mcp-request" | "refresh" | "sign-in";

/**
 * Revokes every edge grant of a user whose Workspace account the origin found not active, as an administrator's
 * "sign out everywhere" does: of the address, or with a state read by `sub` (`gone.bySub`) only that `sub`'s grants
 * under the address (see `signOutSub`: the address may be someone else's now). Audits it once as
 * `auth.user_signed_out` by `directory:google`, with the account's state (and `accountBy: "sub"` when read so) and
 * what was refused in `arguments`, `count` the grants revoked (`alsoRevoked` adds those revoked before, such
 * as the refreshed grant the library revoked on `invalid_grant`), `httpStatus` the refusal's status. Never throws: the
 * refusal is answered whatever happens here; a failure is logged and audited as an error (what was revoked before it
 * counted), and the next refused request or refresh of the user's tries again.
 *
 * It waits for each grant's turn, so it must never run inside a turn (a refresh's callback holds its grant's).
 */
export async function signOutGoneAccount(
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  gone: AccountNotActive,
  refused: { at: RefusedAt; httpStatus: number; clientId?: string; alsoRevoked?: number },
): Promise<SignedOut> {
  const started = Date.now();
  const audit = (done: SignedOut, outcome: "ok" | "error") => {
    const revoked = done.revoked + (refused.alsoRevoked ?? 0);
    recordAudit(env, ctx, {
      kind: "auth.user_signed_out",
      outcome,
      userEmail: gone.email,
      userSub: gone.sub,
      clientId: DIRECTORY_SIGN_OUT_CLIENT,
      ...(revoked > 0 ? { count: revoked } : {}),
      arguments: {
        account: gone.account,
        ...(gone.bySub && { accountBy: "sub" }),
        refused: refused.at,
        ...(refused.clientId && { refusedClient: refused.clientId }),
        ...(done.subs.length > 1 ? { subs: done.subs } : {}),
      },
      httpStatus: refused.httpStatus,
      latencyMs: Date.now() - started,
    });
  };
  try {
    const done = gone.bySub
      ? await signOutSub(env, ctx, config, gone.sub, gone.email)
      : await signOutEverywhere(env, ctx, config, gone.email);
    audit(done, "ok");
    console.warn(`account ${gone.account} at the Workspace: ${refused.at} refused, ${done.revoked} grant(s) revoked`);
    return done;
  } catch (error) {
    const done = error instanceof SignOutIncomplete ? error.done : { revoked: 0, subs: [] };
    audit(done, "error");
    console.error(
      `account ${gone.account} at the Workspace: ${refused.at} refused, signing out failed: ${(error as Error).message}`,
    );
    return done;
  }
}
