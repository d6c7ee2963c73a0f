import { z } from "zod";

/**
 * The origin's answer about a signed-in user's groups (GET /identity/groups, under an edge assertion with
 * `purpose: "groups"` that names the user by `email`).
 */
export const IDENTITY_GROUPS_PATH = "/identity/groups";

/**
 * The query parameter by which the edge says how old an answer it takes (whole seconds: its `groups.ttlSeconds`):
 * the origin reads the Directory again rather than answer from a cache entry older than that.
 */
export const IDENTITY_GROUPS_MAX_AGE_PARAMETER = "maxAgeSeconds";

/**
 * The user's Google Workspace account as the Directory reports it: `active`, `suspended` or `archived` by an
 * administrator, or `deleted` (the Directory does not know the user).
 */
export const AccountState = z.enum(["active", "suspended", "archived", "deleted"]);
export type AccountState = z.infer<typeof AccountState>;

/** The states that end a user's access at the edge. */
export type GoneAccount = Exclude<AccountState, "active">;
const GONE: ReadonlySet<string> = new Set(AccountState.exclude(["active"]).options);
export const isGoneAccount = (account: string | undefined): account is GoneAccount => account !== undefined && GONE.has(account);

export const IdentityGroups = z.object({
  /** Group e-mail addresses, lower case. */
  groups: z.array(z.string()),
  source: z.literal("google-directory"),
  /** When the directory said so (epoch seconds): the origin may answer from its own short cache. */
  checkedAt: z.number().int(),
  /**
   * The user's account, read at the same time as the groups: present only when the origin checks accounts
   * (`google.checkAccounts`). An edge that does not know the field ignores it; an origin that does not send it is
   * taken as not checking (the user stays as they are). Read as any text, so that a state a newer origin adds leaves
   * an older edge's users as they are (as the field's absence would), not every look-up unreadable.
   */
  account: z.string().optional(),
});
export type IdentityGroups = z.infer<typeof IdentityGroups>;
