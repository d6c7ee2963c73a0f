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
 * The query parameter by which the edge asks for the account of the assertion's `sub` rather than of its `email`
 * (value `sub`): sent only when the identity provider is Google, whose `sub` is the Workspace user's unique id, which
 * the Directory's `users.get` takes as well as an address. An address can be given to someone else (a leaver's, to a
 * new hire); the id cannot. An origin that does not know the parameter ignores it and reads by address.
 */
export const IDENTITY_GROUPS_ACCOUNT_BY_PARAMETER = "accountBy";
/** The value of `accountBy` (and of the answer's field) that means: the account of the assertion's `sub`. */
export const ACCOUNT_BY_SUB = "sub";

/**
 * The user's Google Workspace account as the Directory reports it: `active`, `suspended` or `archived` by an
 * administrator, or `deleted` (the Directory does not know the user). Read by `sub`, also `renamed`: the account
 * exists but its primary address is no longer the one the assertion names (renamed, or the address given to another
 * account), so the grants made under that address are no longer its user's. Only an edge that asked by `sub` gets it.
 */
export const AccountState = z.enum(["active", "suspended", "archived", "deleted", "renamed"]);
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
  /**
   * `sub` when `account` is the state of the assertion's `sub` (the edge asked `accountBy=sub` and the origin read the
   * account by its id): it is then that one user's, and the edge revokes only their grants under that address. Absent
   * (an older origin, or one asked by address): the state is the address's, whoever holds it now.
   */
  accountBy: z.string().optional(),
});
export type IdentityGroups = z.infer<typeof IdentityGroups>;
