import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { UserProps } from "../env.ts";
import type { Authorization } from "./bridge/session-record.ts";

/**
 * How long a request's credentials stay good to sign with (see `authorizedUntil`): the access token's expiry, and the
 * groups' freshness bound, `groups.ttlSeconds` from when they were read (source `google-directory`; groups from the
 * ID token are the grant's and have none). What a listen opened with them lives no longer than.
 */
export function authorizationOf(user: UserProps, tokenExpiresAt: number | undefined, config: EdgeConfig): Authorization {
  const checkedAt = config.groups.source === "google-directory" ? user.groupsCheckedAt : undefined;
  return {
    ...(tokenExpiresAt !== undefined && { tokenExpiresAt }),
    ...(checkedAt !== undefined && { groupsFreshUntil: checkedAt + config.groups.ttlSeconds }),
  };
}
