import type { GoneAccount } from "../../../contract/identity-groups.ts";

/** How each state is said to the user and in logs. */
const SAID: Record<GoneAccount, string> = {
  suspended: "suspended",
  archived: "archived",
  deleted: "deleted (or not a user of the Workspace)",
};

/**
 * The origin says the user's Google Workspace account is not active (`google.checkAccounts`): suspended, archived or
 * deleted. The caller refuses what the user asked for and signs them out everywhere (directory-sign-out.ts); unlike
 * GroupsUnavailable this is no outage to wait out.
 */
export class AccountNotActive extends Error {
  readonly account: GoneAccount;
  readonly sub: string;
  readonly email: string;
  constructor(account: GoneAccount, user: { sub: string; email: string }) {
    super(`your Google Workspace account is ${SAID[account]}`);
    this.name = "AccountNotActive";
    this.account = account;
    this.sub = user.sub;
    this.email = user.email;
  }
}

/** What the user is told, in a page, a JSON-RPC error or an OAuth error: what happened and whom to ask. */
export const goneAccountWording = (gone: AccountNotActive): string =>
  `Your Google Workspace account is ${SAID[gone.account]}, so access through this proxy has ended and your sign-ins here are revoked. If this is a mistake, ask a Workspace administrator to restore the account, then sign in again.`;
