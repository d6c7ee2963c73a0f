import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { IdentityGroups } from "../../../contract/identity-groups.ts";
import type { UserProps } from "../../env.ts";
import { normalizedEmail } from "../user-grants.ts";
import { originGroups } from "./origin-groups.ts";

/** Users whose groups an isolate remembers at most; past that the oldest are forgotten first. */
const MAX_REMEMBERED = 10_000;
/**
 * Each user's latest groups this isolate read. Values only: a look-up in flight is not shared with other requests,
 * because a request must not await another request's I/O (the runtime cancels such a wait as hung when the other
 * request ends first); the origin caches the groups it reads, so a burst of requests at the TTL costs it little.
 */
const remembered = new Map<string, IdentityGroups>();
/**
 * A reading is the user's under the address it was read for: the origin reads an account by `sub` and compares the
 * address (renamed: refused), so a token of a renamed user's former address must not ride on the new one's reading.
 */
const rememberedKey = (user: UserProps) => `${user.sub}\u0000${normalizedEmail(user.email ?? "")}`;

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * The user with groups no older than `groups.ttlSeconds` (source `google-directory`): the token's own when fresh
 * enough, else this isolate's latest reading when fresh enough, else read from the origin now. Access tokens live
 * longer than the TTL, so without this a user removed from a group would keep it until their next refresh. Throws
 * GroupsUnavailable when they must be read and cannot be: the caller refuses the request rather than use old ones.
 * Throws AccountNotActive when they are read and the origin says the user's Workspace account is not active
 * (`google.checkAccounts`); nothing is remembered then, so every later request of the user asks again.
 */
export async function currentGroups(config: EdgeConfig, user: UserProps, clientId: string): Promise<UserProps> {
  if (config.groups.source !== "google-directory") return user;
  const fresh = (checkedAt: number | undefined) => checkedAt !== undefined && nowSeconds() - checkedAt < config.groups.ttlSeconds;
  if (fresh(user.groupsCheckedAt)) return user;
  let known = remembered.get(rememberedKey(user));
  if (!known || !fresh(known.checkedAt)) known = await read(config, user, clientId);
  return { ...user, groups: known.groups, groupsCheckedAt: known.checkedAt };
}

async function read(config: EdgeConfig, user: UserProps, clientId: string): Promise<IdentityGroups> {
  const answer = await originGroups(config, { sub: user.sub, email: user.email, clientId });
  const key = rememberedKey(user);
  remembered.delete(key);
  remembered.set(key, answer);
  if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string);
  return answer;
}
