import { afterEach, describe, expect, it } from "vitest";
import { type GroupLookUp, googleGroupLookUp } from "../../aws/origin/identity/google/google-groups.ts";
import { GoogleStepFailed } from "../../aws/origin/identity/google/google-step.ts";
import type { FakeGoogle } from "../../local/fake-google/server.ts";
import { AWS_KEY, googleConfigFor, startTestGoogle, testAwsCredentials } from "./google-fake-setup.ts";

// The origin's Google Workspace look-up, with the real google-auth-library against the fake Google APIs over HTTP.

let google: FakeGoogle | undefined;
afterEach(async () => {
  await google?.close();
  google = undefined;
});

/** The look-up of a configuration that names an admin to read the Directory as (every one here but the last). */
function lookUpFor(...args: Parameters<typeof googleGroupLookUp>): GroupLookUp {
  const lookUp = googleGroupLookUp(...args);
  if (!lookUp) throw new Error("expected a group look-up: the configuration names google.adminUser");
  return lookUp;
}

const manyGroups = (count: number) => Array.from({ length: count }, (_, index) => `team-${index}@example.com`);

async function failureOf(promise: Promise<unknown>): Promise<GoogleStepFailed> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GoogleStepFailed);
  return error as GoogleStepFailed;
}

describe("Google Workspace groups through Workload Identity Federation", () => {
  it("lists every group of a user across the Directory's pages", async () => {
    google = await startTestGoogle({ "dev@example.com": manyGroups(450) });
    const lookUp = lookUpFor(googleConfigFor(google.url), testAwsCredentials);
    const found = await lookUp("dev@example.com");
    expect(found.value).toEqual(manyGroups(450));
    expect(google.requests).toMatchObject({ sts: 1, "iam-credentials": 2, "oauth-token": 1, directory: 3 });
  });

  it("finds no group for a user in none, and for a user the Directory does not know", async () => {
    google = await startTestGoogle({ "new@example.com": [] });
    const lookUp = lookUpFor(googleConfigFor(google.url), testAwsCredentials);
    expect((await lookUp("new@example.com")).value).toEqual([]);
    expect((await lookUp("stranger@elsewhere.example")).value).toEqual([]);
  });

  it("reuses the delegated token across users and look-ups", async () => {
    google = await startTestGoogle({ "a@example.com": ["x@example.com"], "b@example.com": ["y@example.com"] });
    const lookUp = lookUpFor(googleConfigFor(google.url), testAwsCredentials);
    await lookUp("a@example.com");
    await lookUp("b@example.com");
    await lookUp("a@example.com");
    expect(google.requests).toMatchObject({ sts: 1, "oauth-token": 1, directory: 3 });
  });

  it("caches a user's groups for cacheSeconds and shares one look-up among concurrent callers", async () => {
    google = await startTestGoogle({ "dev@example.com": ["eng@example.com"] });
    const lookUp = lookUpFor(googleConfigFor(google.url, { cacheSeconds: 60 }), testAwsCredentials);
    const together = await Promise.all([lookUp("dev@example.com"), lookUp("dev@example.com"), lookUp("dev@example.com")]);
    google.setGroups("dev@example.com", ["ops@example.com"]);
    const later = await lookUp("dev@example.com");
    expect(together.map((found) => found.value)).toEqual([["eng@example.com"], ["eng@example.com"], ["eng@example.com"]]);
    expect(later.value).toEqual(["eng@example.com"]);
    expect(later.foundAt).toBe(together[0]?.foundAt);
    expect(google.requests.directory).toBe(1);
  });

  it("sees a membership change at once without a cache", async () => {
    google = await startTestGoogle({ "dev@example.com": ["eng@example.com"] });
    const lookUp = lookUpFor(googleConfigFor(google.url), testAwsCredentials);
    expect((await lookUp("dev@example.com")).value).toEqual(["eng@example.com"]);
    google.setGroups("dev@example.com", []);
    expect((await lookUp("dev@example.com")).value).toEqual([]);
  });
});

describe("each step's failure is named", () => {
  it("sts: AWS credentials the STS cannot verify are refused", async () => {
    google = await startTestGoogle({});
    const forged = async () => ({ ...AWS_KEY, secretAccessKey: "not-the-secret" });
    const failure = await failureOf(lookUpFor(googleConfigFor(google.url), forged)("dev@example.com"));
    expect(failure).toMatchObject({ step: "sts", unavailable: false });
    expect(failure.message).toMatch(/signature does not match/);
  });

  it("sts: a provider audience other than the pool's is refused", async () => {
    google = await startTestGoogle({});
    const config = googleConfigFor(google.url, {
      audience: "//iam.googleapis.com/projects/999/locations/global/workloadIdentityPools/other/providers/aws",
    });
    const failure = await failureOf(lookUpFor(config, testAwsCredentials)("dev@example.com"));
    expect(failure).toMatchObject({ step: "sts", unavailable: false });
  });

  it("impersonation: a service account the pool may not impersonate is refused", async () => {
    google = await startTestGoogle({});
    const config = googleConfigFor(google.url, { serviceAccount: "other@example-project.iam.gserviceaccount.com" });
    const failure = await failureOf(lookUpFor(config, testAwsCredentials)("dev@example.com"));
    expect(failure).toMatchObject({ step: "impersonation", unavailable: false });
    expect(failure.message).toMatch(/workloadIdentityUser/);
  });

  it("delegation: scopes the domain did not delegate are refused", async () => {
    // The group scope is what a look-up asks for (the user scope only with checkAccounts: google-accounts.test.ts).
    google = await startTestGoogle({}, { delegatedScopes: ["https://www.googleapis.com/auth/admin.directory.user.readonly"] });
    const failure = await failureOf(lookUpFor(googleConfigFor(google.url), testAwsCredentials)("dev@example.com"));
    expect(failure).toMatchObject({ step: "delegation", unavailable: false, status: 401 });
    expect(failure.message).toMatch(/unauthorized_client/);
  });

  it("directory: an acting user without an admin role is refused", async () => {
    google = await startTestGoogle({ "plain@example.com": [] });
    const config = googleConfigFor(google.url, { adminUser: "plain@example.com" });
    const failure = await failureOf(lookUpFor(config, testAwsCredentials)("dev@example.com"));
    expect(failure).toMatchObject({ step: "directory", unavailable: false, status: 403 });
  });

  it("aws-credentials: no AWS credentials at all", async () => {
    google = await startTestGoogle({});
    const none = async (): Promise<typeof AWS_KEY> => {
      throw new Error("Could not load credentials from any providers");
    };
    const failure = await failureOf(lookUpFor(googleConfigFor(google.url), none)("dev@example.com"));
    expect(failure).toMatchObject({ step: "aws-credentials", unavailable: false });
  });

  it.each([
    ["sts", "sts"],
    ["iam-credentials", "impersonation"],
    ["oauth-token", "delegation"],
    ["directory", "directory"],
  ] as const)("an outage of %s is reported as the %s step being unavailable", async (api, step) => {
    google = await startTestGoogle({ "dev@example.com": [] });
    google.outage(api);
    const failure = await failureOf(lookUpFor(googleConfigFor(google.url), testAwsCredentials)("dev@example.com"));
    expect(failure).toMatchObject({ step, unavailable: true });
  });

  it("is not made without google.adminUser (a block that serves only googleCredentials): nobody to read the Directory as", () => {
    const { adminUser: _admin, ...withoutAdmin } = googleConfigFor("http://127.0.0.1:9");
    expect(googleGroupLookUp(withoutAdmin, testAwsCredentials)).toBeUndefined();
  });
});
