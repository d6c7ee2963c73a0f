import { type AwsCredentialSource, awsCredentialsSupplier, awsRegion } from "./aws-credentials.ts";
import { delegatedDirectoryTokens } from "./delegated-token.ts";
import { directoryGroups } from "./directory-groups.ts";
import { type GoogleConfig, serviceAccountTokens } from "./federated-client.ts";
import { type Found, perUserCache } from "./per-user-cache.ts";

/** A user's Google Workspace groups (group e-mail addresses, lower case), and when the Directory said so. */
export type GroupLookUp = (email: string) => Promise<Found<string[]>>;

/**
 * The origin's Google Workspace group look-up: Workload Identity Federation to the service account, domain-wide
 * delegation to the admin, the Directory's groups list; each user's answer cached for `google.cacheSeconds`.
 * `awsCredentials` replaces the AWS SDK's default chain (the local fakes' keys). None without `google.adminUser`:
 * nobody to read the Directory as (the block then serves only servers' googleCredentials).
 */
export function googleGroupLookUp(google: GoogleConfig, awsCredentials?: AwsCredentialSource): GroupLookUp | undefined {
  if (!google.adminUser) return undefined;
  const aws = awsCredentialsSupplier(awsRegion(google.awsRegion), awsCredentials);
  const directoryToken = delegatedDirectoryTokens(google, google.adminUser, serviceAccountTokens(google, aws));
  return perUserCache(google.cacheSeconds * 1000, async (email) => directoryGroups(google, await directoryToken(), email));
}
