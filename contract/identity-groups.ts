import { z } from "zod";

/**
 * The origin's answer about a signed-in user's groups (GET /identity/groups, under an edge assertion with
 * `purpose: "groups"` that names the user by `email`).
 */
export const IDENTITY_GROUPS_PATH = "/identity/groups";

export const IdentityGroups = z.object({
  /** Group e-mail addresses, lower case. */
  groups: z.array(z.string()),
  source: z.literal("google-directory"),
  /** When the directory said so (epoch seconds): the origin may answer from its own short cache. */
  checkedAt: z.number().int(),
});
export type IdentityGroups = z.infer<typeof IdentityGroups>;
