import { AwsClient, type AwsSecurityCredentialsSupplier } from "google-auth-library";
import type { OriginConfig } from "../../../../contract/config/schema.ts";
import { GoogleStepFailed, isUnavailableStatus } from "./google-step.ts";

export type GoogleConfig = NonNullable<OriginConfig["google"]>;

const AWS_SUBJECT_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request";
/** What signJwt needs of the caller's token (the impersonated account's own). */
const CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform";

/** The IAM Credentials URL of one method on the configured service account. */
export const serviceAccountMethodUrl = (google: GoogleConfig, method: "generateAccessToken" | "signJwt") =>
  `${google.endpoints.iamCredentials}/v1/projects/-/serviceAccounts/${google.serviceAccount}:${method}`;

/**
 * An access token of the configured service account, by Workload Identity Federation: google-auth-library's
 * `external_account` client with the AWS source signs GetCallerIdentity, exchanges it at the STS (`token_url`) and
 * impersonates the service account (`service_account_impersonation_url`). It caches the token until near expiry.
 */
export function serviceAccountTokens(google: GoogleConfig, aws: AwsSecurityCredentialsSupplier): () => Promise<string> {
  const client = new AwsClient({
    type: "external_account",
    audience: google.audience,
    subject_token_type: AWS_SUBJECT_TOKEN_TYPE,
    token_url: google.endpoints.sts,
    service_account_impersonation_url: serviceAccountMethodUrl(google, "generateAccessToken"),
    aws_security_credentials_supplier: aws,
    scopes: [CLOUD_PLATFORM],
    transporterOptions: { timeout: google.requestTimeoutSeconds * 1000 },
  });
  return async () => {
    try {
      const { token } = await client.getAccessToken();
      if (!token) throw new GoogleStepFailed("impersonation", false, "no access token in the answer");
      return token;
    } catch (error) {
      throw error instanceof GoogleStepFailed ? error : federationFailure(google, error);
    }
  };
}

/** Names the step a google-auth-library failure belongs to: the URL it called tells the STS from IAM Credentials. */
function federationFailure(google: GoogleConfig, error: unknown): GoogleStepFailed {
  const failed = error as { config?: { url?: string | URL }; response?: { status?: number; data?: unknown }; message?: string };
  const url = String(failed.config?.url ?? "");
  const step = url.startsWith(google.endpoints.sts) ? "sts" : "impersonation";
  const status = failed.response?.status;
  const said = failed.response?.data ? ` ${JSON.stringify(failed.response.data).slice(0, 300)}` : "";
  return new GoogleStepFailed(step, isUnavailableStatus(status), `${status ?? "no answer"}${said || ` ${failed.message ?? ""}`}`);
}
