import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { UserProps } from "../../env.ts";
import { errorPage } from "../html.ts";
import { type GroupsSubject, GroupsUnavailable, originGroups } from "./origin-groups.ts";

/**
 * The user as the grant keeps them, groups included: with `groups.source: "google-directory"`, the groups the origin
 * reads from Google Workspace now (stamped with when the Directory said so); with `id-token`, those the id_token
 * listed, unchanged. Throws GroupsUnavailable when the Directory's groups cannot be read.
 */
export async function withGrantGroups(config: EdgeConfig, user: UserProps, clientId: string): Promise<UserProps> {
  if (config.groups.source !== "google-directory") return user;
  const subject: GroupsSubject = { sub: user.sub, email: user.email, clientId };
  const { groups, checkedAt } = await originGroups(config, subject);
  return { ...user, groups, groupsCheckedAt: checkedAt };
}

/**
 * The sign-in's step: the user with their grant groups, or the page (503) that refuses the sign-in when they cannot
 * be read. Fail closed: a grant without the user's current groups could open what they may no longer use.
 */
export async function signInGroups(config: EdgeConfig, user: UserProps, clientId: string): Promise<UserProps | Response> {
  try {
    return await withGrantGroups(config, user, clientId);
  } catch (error) {
    if (!(error instanceof GroupsUnavailable)) throw error;
    console.warn(`sign-in refused at the groups step: ${error.message}`);
    return errorPage(503, `Signing in needs your groups, and ${error.message}. Try again in a minute.`);
  }
}
