import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { EdgeEnv, UserProps } from "../../env.ts";
import { errorPage, START_AGAIN } from "../html.ts";
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

/** A sign-in refused at the groups step: the page that says why, and the step's fixed code for its audit event. */
export class GroupsRefusal {
  readonly step: "groups_unavailable" | "account_not_active";
  readonly page: Response;
  constructor(step: GroupsRefusal["step"], page: Response) {
    this.step = step;
    this.page = page;
  }
}

/**
 * The sign-in's step: the user with their grant groups, or the refusal: 503 when they cannot be read (fail closed: a
 * grant without the user's current groups could open what they may no longer use), 403 when the origin says the
 * user's Workspace account is not active, which also revokes every grant the user still has and is audited
 * (directory-sign-out.ts). The caller audits the refusal itself (`auth.denied`, with the step).
 */
export async function signInGroups(
  config: EdgeConfig,
  user: UserProps,
  clientId: string,
  context: SignInContext,
): Promise<UserProps | GroupsRefusal> {
  try {
    return await withGrantGroups(config, user, clientId);
  } catch (error) {
    if (error instanceof AccountNotActive) {
      console.warn(`sign-in refused: the Workspace account is ${error.account}`);
      await signOutGoneAccount(context.env, context.ctx, config, error, { at: "sign-in", httpStatus: 403, clientId });
      return new GroupsRefusal(
        "account_not_active",
        errorPage(403, `Signing in was refused. ${goneAccountWording(error)}`, START_AGAIN),
      );
    }
    if (!(error instanceof GroupsUnavailable)) throw error;
    console.warn(`sign-in refused at the groups step: ${error.message}`);
    const page = errorPage(503, `Signing in needs your groups, and ${error.message}. Try again in a minute.`, START_AGAIN);
    return new GroupsRefusal("groups_unavailable", page);
  }
}
