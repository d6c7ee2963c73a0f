import type { GoneAccount } from "../../../contract/identity-groups.ts";

/** How each state is said to the user and in logs. */
const SAID: Record<GoneAccount, string> = {
  suspended: "suspended",
  archived: "archived",
  deleted: "deleted (or not a user of the Workspace)",
  renamed: "no longer at the address you signed in with (it was renamed, or the address given to another account)",
};

/**
 * The origin says the user's Google Workspace account is not active (`google.checkAccounts`): suspended, archived,
 * deleted, or (read by `sub`) renamed away from the address the user signed in with. The caller refuses what the user
 * asked for and signs them out (directory-sign-out.ts); unlike GroupsUnavailable this is no outage to wait out.
 * `bySub`: the origin read the account of this `sub` (Google's unique id), so the state is this user's alone, not that
 * of whoever holds the address now.
 */
export class AccountNotActive extends Error {
  readonly account: GoneAccount;
  readonly sub: string;
  readonly email: string;
  readonly bySub: boolean;
  constructor(account: GoneAccount, user: { sub: string; email: string }, bySub = false) {
    super(`your Google Workspace account is ${SAID[account]}`);
    this.name = "AccountNotActive";
    this.account = account;
    this.sub = user.sub;
    this.email = user.email;
    this.bySub = bySub;
  }
}

/** What the user is told, in a page, a JSON-RPC error or an OAuth error: what happened and whom to ask. */
export const goneAccountWording = (gone: AccountNotActive): string =>
  `Your Google Workspace account is ${SAID[gone.account]}, so access through this proxy has ended and your sign-ins here are revoked. If this is a mistake, ask a Workspace administrator to restore the account, then sign in again.`;
