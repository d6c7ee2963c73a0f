import { defaultProvider } from "@aws-sdk/credential-provider-node";
import type { AwsSecurityCredentialsSupplier } from "google-auth-library";
import { GoogleStepFailed } from "./google-step.ts";

/** Where AWS credentials come from: the AWS SDK's default chain in AWS (the ECS task role), fixed keys for the local fakes. */
export type AwsCredentialSource = () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;

/**
 * The AWS side of Workload Identity Federation. google-auth-library's own AWS source reads only environment variables
 * and the EC2 metadata server, which a Fargate task does not have; the AWS SDK's chain also reads the task role.
 */
export function awsCredentialsSupplier(
  region: string,
  source: AwsCredentialSource = defaultProvider(),
): AwsSecurityCredentialsSupplier {
  return {
    getAwsRegion: async () => region,
    getAwsSecurityCredentials: async () => {
      try {
        const credentials = await source();
        return {
          accessKeyId: credentials.accessKeyId,
          secretAccessKey: credentials.secretAccessKey,
          token: credentials.sessionToken,
        };
      } catch (error) {
        throw new GoogleStepFailed("aws-credentials", false, (error as Error).message);
      }
    },
  };
}

/** The region the credentials are signed for: configured, else the one AWS sets in the task's environment. */
export function awsRegion(configured: string | undefined): string {
  const region = configured ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new Error("google.awsRegion is unset and neither AWS_REGION nor AWS_DEFAULT_REGION is set: set one of them");
  return region;
}
