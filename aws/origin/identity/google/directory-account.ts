import type { AccountState } from "../../../../contract/identity-groups.ts";
import { ACCOUNTS_SCOPE } from "./delegated-token.ts";
import type { GoogleConfig } from "./federated-client.ts";
import { googleFetch } from "./google-fetch.ts";
import { GoogleStepFailed } from "./google-step.ts";

/** The fields of a Directory user that say whether the account may be used (Admin SDK `users.get`). */
interface UserFields {
  suspended?: boolean;
  archived?: boolean;
  primaryEmail?: string;
}

/**
 * The state of `user`'s Workspace account (Admin SDK `users.get`, only the fields that say whether it may be used):
 * `suspended` or `archived` as the Directory flags it, `deleted` when the Directory does not know the user (404: deleted,
 * or never a user of the domain), else `active`. A 403 is a configuration to fix: it names the scope and the role.
 *
 * With `id` (the user's unique id, which Google sign-in gives as `sub`) the account is read by it, not by the address:
 * an address passes to whoever holds it now (a deleted leaver's, given to a new hire), an id never does. The account of
 * that id is then `renamed` when its primary address is no longer `user` (the grant was made under an address that is
 * no longer this person's), and `deleted` when the id is unknown, whoever holds the address now.
 */
export async function directoryAccount(google: GoogleConfig, token: string, user: string, id?: string): Promise<AccountState> {
  const fields = id === undefined ? "suspended,archived" : "suspended,archived,primaryEmail";
  let found: UserFields;
  try {
    found = await googleFetch<UserFields>(
      "directory",
      `${google.endpoints.directory}/admin/directory/v1/users/${encodeURIComponent(id ?? user)}?fields=${fields}`,
      { headers: { authorization: `Bearer ${token}` } },
      google.requestTimeoutSeconds,
    );
  } catch (error) {
    if (!(error instanceof GoogleStepFailed)) throw error;
    if (error.status === 404) return "deleted";
    if (error.status === 403)
      throw new GoogleStepFailed(
        "directory",
        false,
        `reading the user's account (google.checkAccounts) was refused: ${error.detail}; the delegation needs the scope ${ACCOUNTS_SCOPE} (Workspace admin console, domain-wide delegation) and google.adminUser a role that may read users`,
        403,
      );
    throw error;
  }
  if (found.suspended === true) return "suspended";
  if (found.archived === true) return "archived";
  if (id !== undefined && found.primaryEmail?.toLowerCase() !== user.toLowerCase()) return "renamed";
  return "active";
}
