import type { AccountState } from "../../../../contract/identity-groups.ts";
import { type AwsCredentialSource, awsCredentialsSupplier, awsRegion } from "./aws-credentials.ts";
import { delegatedDirectoryTokens } from "./delegated-token.ts";
import { directoryAccount } from "./directory-account.ts";
import { directoryGroups } from "./directory-groups.ts";
import { type GoogleConfig, serviceAccountTokens } from "./federated-client.ts";
import { type Found, perUserCache } from "./per-user-cache.ts";

/**
 * A user's Google Workspace groups (group e-mail addresses, lower case), and when the Directory said so; with
 * `google.checkAccounts`, also their account's state (absent otherwise): that of the account with the unique id `id`
 * when one is given (see `directoryAccount`), else that of whoever holds the address now.
 */
export type GroupLookUp = (
  email: string,
  maxAgeMs?: number,
  id?: string,
) => Promise<Found<string[]> & { account?: AccountState }>;

interface DirectoryAnswer {
  groups: string[];
  account?: AccountState;
}

/** Cache keys: an address, or an address and the id its account is read by (a state of one is not the other's). */
const keyOf = (email: string, id: string | undefined) => (id === undefined ? email : `${email}\u0000${id}`);

/**
 * The origin's Google Workspace group look-up: Workload Identity Federation to the service account, domain-wide
 * delegation to the admin, the Directory's groups list (and, with `google.checkAccounts`, the user's account, read
 * beside it with the same token); each user's answer cached for `google.cacheSeconds`. An account that is not active
 * gets no groups: nothing is granted on it. `awsCredentials` replaces the AWS SDK's default chain (the local fakes'
 * keys). None without `google.adminUser`: nobody to read the Directory as (the block then serves only servers'
 * googleCredentials).
 */
export function googleGroupLookUp(google: GoogleConfig, awsCredentials?: AwsCredentialSource): GroupLookUp | undefined {
  if (!google.adminUser) return undefined;
  const aws = awsCredentialsSupplier(awsRegion(google.awsRegion), awsCredentials);
  const directoryToken = delegatedDirectoryTokens(google, google.adminUser, serviceAccountTokens(google, aws));
  const cached = perUserCache<DirectoryAnswer>(google.cacheSeconds * 1000, async (key) => {
    const [email = "", id] = key.split("\u0000");
    const token = await directoryToken();
    if (!google.checkAccounts) return { groups: await directoryGroups(google, token, email) };
    const [account, groups] = await Promise.all([
      directoryAccount(google, token, email, id),
      directoryGroups(google, token, email),
    ]);
    return { groups: account === "active" ? groups : [], account };
  });
  return async (email, maxAgeMs, id) => {
    // Without checkAccounts the id changes nothing read: one entry per address.
    const { value, foundAt } = await cached(keyOf(email, google.checkAccounts ? id : undefined), maxAgeMs);
    return { value: value.groups, foundAt, ...(value.account && { account: value.account }) };
  };
}
