import { DIRECTORY_SCOPES } from "../../aws/origin/identity/google/delegated-token.ts";
import type { GoogleConfig } from "../../aws/origin/identity/google/federated-client.ts";
import { OriginConfig } from "../../contract/config/schema.ts";
import { type FakeGoogleOptions, startFakeGoogle } from "../../local/fake-google/server.ts";

export const AUDIENCE = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/aws-pool/providers/aws";
export const SERVICE_ACCOUNT = "groups-reader@example-project.iam.gserviceaccount.com";
export const ADMIN = "admin@example.com";
/** Test-only AWS keys (nothing real): the fake STS knows them, the origin signs with them. */
export const AWS_KEY = { accessKeyId: "AKIAFAKEFORTESTS0001", secretAccessKey: "fake-secret-access-key-for-tests-only" };

/** The fake Google APIs with one domain: the admin, and whatever memberships a test gives. */
export function startTestGoogle(memberships: Record<string, string[]>, overrides: Partial<FakeGoogleOptions> = {}) {
  return startFakeGoogle({
    audience: AUDIENCE,
    serviceAccount: SERVICE_ACCOUNT,
    awsKeys: [AWS_KEY],
    delegatedScopes: DIRECTORY_SCOPES,
    admins: [ADMIN],
    memberships: { [ADMIN]: [], ...memberships },
    ...overrides,
  });
}

/** The origin's `google` block pointed at the fake, validated as the origin validates its configuration. */
export function googleConfigFor(fakeUrl: string, overrides: Record<string, unknown> = {}): GoogleConfig {
  const config = OriginConfig.parse({
    publicUrl: "https://origin.example.test",
    edgeIssuer: "https://edge.example.test",
    google: {
      audience: AUDIENCE,
      serviceAccount: SERVICE_ACCOUNT,
      adminUser: ADMIN,
      awsRegion: "eu-west-1",
      cacheSeconds: 0,
      requestTimeoutSeconds: 5,
      endpoints: {
        sts: `${fakeUrl}/v1/token`,
        iamCredentials: fakeUrl,
        oauthToken: `${fakeUrl}/token`,
        directory: fakeUrl,
      },
      ...overrides,
    },
  });
  return config.google as GoogleConfig;
}

/** The test AWS keys as the origin's credential source. */
export const testAwsCredentials = async () => AWS_KEY;
