import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { EdgeEnv, UserProps } from "../../env.ts";
import { errorPage } from "../html.ts";
import { AccountNotActive, goneAccountWording } from "./account-not-active.ts";
import { signOutGoneAccount } from "./directory-sign-out.ts";
import { type GroupsSubject, GroupsUnavailable, originGroups } from "./origin-groups.ts";

/**
 * The user as the grant keeps them, groups included: with `groups.source: "google-directory"`, the groups the origin
 * reads from Google Workspace now (stamped with when the Directory said so); with `id-token`, those the id_token
 * listed, unchanged. Throws GroupsUnavailable when the Directory's groups cannot be read, AccountNotActive when the
 * origin says the user's Workspace account is suspended, archived or deleted.
 */
export async function withGrantGroups(config: EdgeConfig, user: UserProps, clientId: string): Promise<UserProps> {
  if (config.groups.source !== "google-directory") return user;
  const subject: GroupsSubject = { sub: user.sub, email: user.email, clientId };
  const { groups, checkedAt } = await originGroups(config, subject);
  return { ...user, groups, groupsCheckedAt: checkedAt };
}

/** What the sign-in's step needs to sign a user out everywhere (the request's env and context). */
export interface SignInContext {
  env: EdgeEnv;
  ctx: ExecutionContext;
}

/**
 * The sign-in's step: the user with their grant groups, or the page that refuses the sign-in: 503 when they cannot
 * be read (fail closed: a grant without the user's current groups could open what they may no longer use), 403 when
 * the origin says the user's Workspace account is not active, which also revokes every grant the user still has and
 * is audited (directory-sign-out.ts).
 */
export async function signInGroups(
  config: EdgeConfig,
  user: UserProps,
  clientId: string,
  context: SignInContext,
): Promise<UserProps | Response> {
  try {
    return await withGrantGroups(config, user, clientId);
  } catch (error) {
    if (error instanceof AccountNotActive) {
      console.warn(`sign-in refused: the Workspace account is ${error.account}`);
      await signOutGoneAccount(context.env, context.ctx, config, error, { at: "sign-in", httpStatus: 403, clientId });
      return errorPage(403, `Signing in was refused. ${goneAccountWording(error)}`);
    }
    if (!(error instanceof GroupsUnavailable)) throw error;
    console.warn(`sign-in refused at the groups step: ${error.message}`);
    return errorPage(503, `Signing in needs your groups, and ${error.message}. Try again in a minute.`);
  }
}
