import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { UserProps } from "../../env.ts";
import { type GroupsSubject, originGroups } from "./origin-groups.ts";

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
