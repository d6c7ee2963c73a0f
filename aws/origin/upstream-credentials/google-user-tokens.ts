import { type AwsCredentialSource, awsCredentialsSupplier, awsRegion } from "../identity/google/aws-credentials.ts";
import { type DelegatedToken, delegatedTokens } from "../identity/google/delegated-token.ts";
import { type GoogleConfig, serviceAccountTokens } from "../identity/google/federated-client.ts";

/** Google access tokens that act as one Workspace user, for upstreams that call Google APIs on the user's behalf. */
export interface GoogleUserTokens {
  /** A token acting as `email` with `scopes` and at least `minRemainingMs` of life left (default: five minutes). */
  tokenFor(email: string, scopes: readonly string[], minRemainingMs?: number): Promise<DelegatedToken>;
  /** The clock the tokens' `expiresAt` is on. */
  now(): number;
}

/**
 * The same path as the groups look-up (docs/google-workspace.md), with the user as the delegation's subject: the
 * task's AWS credentials are exchanged at Google's STS, the service account is impersonated, and domain-wide
 * delegation makes a token for `sub` = the user's e-mail and the server's scopes. Cached per (user, scopes).
 * `awsCredentials` replaces the AWS SDK's default chain (the local fakes' keys); `now` the clock (tests).
 */
export function googleUserTokens(
  google: GoogleConfig,
  awsCredentials?: AwsCredentialSource,
  now: () => number = Date.now,
): GoogleUserTokens {
  const aws = awsCredentialsSupplier(awsRegion(google.awsRegion), awsCredentials);
  return { tokenFor: delegatedTokens(google, serviceAccountTokens(google, aws), now), now };
}
