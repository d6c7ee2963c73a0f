import { randomBytes } from "node:crypto";
import type { AwsCredentialSource } from "../../aws/origin/identity/google/aws-credentials.ts";
import { DIRECTORY_SCOPES } from "../../aws/origin/identity/google/delegated-token.ts";
import type { OriginConfig } from "../../contract/config/schema.ts";
import type { DevAccount } from "../idp/accounts.ts";
import { type FakeGoogle, startFakeGoogle } from "./server.ts";

// `npm start`'s Google Workspace: the fake APIs, seeded with the local identity provider's accounts, and the origin's
// configuration that reaches them exactly as it would reach Google (only the endpoints differ).

const LOCAL_AUDIENCE = "//iam.googleapis.com/projects/000000000000/locations/global/workloadIdentityPools/local/providers/aws";
const LOCAL_SERVICE_ACCOUNT = "groups-reader@local-project.iam.gserviceaccount.com";
const LOCAL_ADMIN = "directory-admin@example.com";
const LOCAL_REGION = "us-east-1";
/**
 * Scopes the local domain delegated for servers' `googleCredentials`, beside the Directory's: a server of an origin
 * file may ask for these (others are refused as Google would: `unauthorized_client`).
 */
export const LOCAL_USER_SCOPES = [
  "https://www.googleapis.com/auth/drive.readonly",
  "https://www.googleapis.com/auth/calendar.readonly",
  "https://www.googleapis.com/auth/userinfo.email",
];

/** The accounts' groups as Workspace groups (`<group>@<domain>`); accounts outside a Workspace domain are not in it. */
export function workspaceMemberships(accounts: readonly DevAccount[]): Record<string, string[]> {
  const inDomain = accounts.filter((account) => account.hd !== undefined);
  return Object.fromEntries(inDomain.map((account) => [account.email, account.groups.map((group) => `${group}@${account.hd}`)]));
}

/** The origin's `google` block for the fake at `url`. */
export function localGoogleConfig(url: string): NonNullable<OriginConfig["google"]> {
  return {
    audience: LOCAL_AUDIENCE,
    serviceAccount: LOCAL_SERVICE_ACCOUNT,
    adminUser: LOCAL_ADMIN,
    awsRegion: LOCAL_REGION,
    // Off: guest@other.example is outside the Workspace, and the Directory not knowing a user counts as gone.
    checkAccounts: false,
    cacheSeconds: 60,
    requestTimeoutSeconds: 10,
    endpoints: { sts: `${url}/v1/token`, iamCredentials: url, oauthToken: `${url}/token`, directory: url },
  };
}

/** AWS keys made for this run only: the fake STS accepts their signatures, and nothing else ever sees them. */
export function localAwsKeys() {
  const key = {
    accessKeyId: `AKIALOCAL${randomBytes(6).toString("hex").toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString("base64"),
  };
  const source: AwsCredentialSource = async () => key;
  return { key, source };
}

/** Starts the fake Google APIs on `port` for these accounts, accepting these AWS keys. */
export function startLocalGoogle(
  port: number,
  accounts: readonly DevAccount[],
  awsKey: { accessKeyId: string; secretAccessKey: string },
): Promise<FakeGoogle> {
  return startFakeGoogle({
    port,
    audience: LOCAL_AUDIENCE,
    serviceAccount: LOCAL_SERVICE_ACCOUNT,
    awsKeys: [awsKey],
    delegatedScopes: [...DIRECTORY_SCOPES, ...LOCAL_USER_SCOPES],
    admins: [LOCAL_ADMIN],
    memberships: { [LOCAL_ADMIN]: [], ...workspaceMemberships(accounts) },
  });
}
