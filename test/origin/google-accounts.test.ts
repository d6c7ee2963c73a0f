import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createOriginApp, type OriginParts } from "../../aws/origin/app.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { awsCredentialsSupplier } from "../../aws/origin/identity/google/aws-credentials.ts";
import { ACCOUNTS_SCOPE, delegatedTokens, GROUPS_SCOPE } from "../../aws/origin/identity/google/delegated-token.ts";
import { directoryAccount } from "../../aws/origin/identity/google/directory-account.ts";
import { serviceAccountTokens } from "../../aws/origin/identity/google/federated-client.ts";
import { type GroupLookUp, googleGroupLookUp } from "../../aws/origin/identity/google/google-groups.ts";
import { GoogleStepFailed } from "../../aws/origin/identity/google/google-step.ts";
import { EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { IDENTITY_GROUPS_PATH } from "../../contract/identity-groups.ts";
import type { FakeGoogle } from "../../local/fake-google/server.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { ADMIN, googleConfigFor, startTestGoogle, testAwsCredentials } from "./google-fake-setup.ts";
import { type TestEdgeKey, testEdgeKey, testOriginParts } from "./origin-under-test.ts";

// google.checkAccounts: the origin reads each user's Workspace account (Admin SDK users.get) beside their groups, with
// the real google-auth-library against the fake Google APIs over HTTP, and tells the edge its state.

const DEV = "dev@example.com";
const ON = { checkAccounts: true };

let google: FakeGoogle | undefined;
afterEach(async () => {
  await google?.close();
  google = undefined;
});

function lookUpFor(...args: Parameters<typeof googleGroupLookUp>): GroupLookUp {
  const lookUp = googleGroupLookUp(...args);
  if (!lookUp) throw new Error("expected a group look-up: the configuration names google.adminUser");
  return lookUp;
}

async function failureOf(promise: Promise<unknown>): Promise<GoogleStepFailed> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GoogleStepFailed);
  return error as GoogleStepFailed;
}

/** The scopes of every delegated token the fake issued, by reading them back from the tokens the look-up used. */
const delegatedScopesAsked = (fake: FakeGoogle, tokens: string[]) => tokens.map((token) => fake.issued(token)?.scopes);

describe("account states, read with the groups", () => {
  it("reads each state: active with its groups; suspended, archived and unknown users with none", async () => {
    google = await startTestGoogle(
      { [DEV]: ["eng@example.com"], "sus@example.com": ["eng@example.com"], "arc@example.com": ["eng@example.com"] },
      { accounts: { "sus@example.com": "suspended", "arc@example.com": "archived" } },
    );
    const lookUp = lookUpFor(googleConfigFor(google.url, ON), testAwsCredentials);
    expect(await lookUp(DEV)).toMatchObject({ value: ["eng@example.com"], account: "active" });
    expect(await lookUp("sus@example.com")).toMatchObject({ value: [], account: "suspended" });
    expect(await lookUp("arc@example.com")).toMatchObject({ value: [], account: "archived" });
    expect(await lookUp("gone@example.com")).toMatchObject({ value: [], account: "deleted" });
    expect(google.requests["directory-users"]).toBe(4);
  });

  it("sees a suspension, a reinstatement and a deletion at once without a cache", async () => {
    google = await startTestGoogle({ [DEV]: ["eng@example.com"] });
    const lookUp = lookUpFor(googleConfigFor(google.url, ON), testAwsCredentials);
    expect((await lookUp(DEV)).account).toBe("active");
    google.setAccount(DEV, "suspended");
    expect((await lookUp(DEV)).account).toBe("suspended");
    google.setAccount(DEV, undefined);
    expect(await lookUp(DEV)).toMatchObject({ value: ["eng@example.com"], account: "active" });
    google.setAccount(DEV, "deleted");
    expect((await lookUp(DEV)).account).toBe("deleted");
  });

  it("caches the account with the groups for cacheSeconds, one look-up for concurrent callers", async () => {
    google = await startTestGoogle({ [DEV]: ["eng@example.com"] });
    const lookUp = lookUpFor(googleConfigFor(google.url, { ...ON, cacheSeconds: 60 }), testAwsCredentials);
    const together = await Promise.all([lookUp(DEV), lookUp(DEV)]);
    google.setAccount(DEV, "suspended");
    const later = await lookUp(DEV);
    expect(together.map((found) => found.account)).toEqual(["active", "active"]);
    expect(later).toMatchObject({ account: "active", foundAt: together[0]?.foundAt });
    expect(google.requests).toMatchObject({ directory: 1, "directory-users": 1 });
  });

  it("reads no account when off: no users.get, no `account`, and only the group scope asked for", async () => {
    google = await startTestGoogle({ [DEV]: ["eng@example.com"] }, { accounts: { [DEV]: "suspended" } });
    const found = await lookUpFor(googleConfigFor(google.url), testAwsCredentials)(DEV);
    expect(found.value).toEqual(["eng@example.com"]);
    expect(found).not.toHaveProperty("account");
    expect(google.requests["directory-users"]).toBe(0);
  });
});

describe("the user scope is asked for only when accounts are checked", () => {
  it("works off with a delegation of the group scope alone", async () => {
    google = await startTestGoogle({ [DEV]: ["eng@example.com"] }, { delegatedScopes: [GROUPS_SCOPE] });
    expect((await lookUpFor(googleConfigFor(google.url), testAwsCredentials)(DEV)).value).toEqual(["eng@example.com"]);
  });

  it("on, a delegation without the user scope is refused at the delegation step, naming the scope to add", async () => {
    google = await startTestGoogle({ [DEV]: ["eng@example.com"] }, { delegatedScopes: [GROUPS_SCOPE] });
    const failure = await failureOf(lookUpFor(googleConfigFor(google.url, ON), testAwsCredentials)(DEV));
    expect(failure).toMatchObject({ step: "delegation", unavailable: false });
    expect(failure.message).toContain("unauthorized_client");
    expect(failure.message).toContain(ACCOUNTS_SCOPE);
  });

  it("a 403 from users.get for a token without the user scope names the scope and the role to give", async () => {
    google = await startTestGoogle({ [DEV]: [] });
    const config = googleConfigFor(google.url, ON);
    const aws = awsCredentialsSupplier("eu-west-1", testAwsCredentials);
    const { token } = await delegatedTokens(config, serviceAccountTokens(config, aws))(ADMIN, [GROUPS_SCOPE]);
    expect(delegatedScopesAsked(google, [token])).toEqual([[GROUPS_SCOPE]]);
    const failure = await failureOf(directoryAccount(config, token, DEV));
    expect(failure).toMatchObject({ step: "directory", unavailable: false, status: 403 });
    expect(failure.message).toContain("insufficient authentication scopes");
    expect(failure.message).toContain(ACCOUNTS_SCOPE);
    expect(failure.message).toMatch(/role that may read users/);
  });

  it("an admin whose role cannot read users is refused (403) with the same advice", async () => {
    google = await startTestGoogle({ [DEV]: [], "helpdesk@example.com": [] });
    const config = googleConfigFor(google.url, ON);
    const aws = awsCredentialsSupplier("eu-west-1", testAwsCredentials);
    const { token } = await delegatedTokens(config, serviceAccountTokens(config, aws))("helpdesk@example.com", [
      GROUPS_SCOPE,
      ACCOUNTS_SCOPE,
    ]);
    const failure = await failureOf(directoryAccount(config, token, DEV));
    expect(failure).toMatchObject({ step: "directory", status: 403 });
    expect(failure.message).toContain("Not Authorized");
    expect(failure.message).toContain(ACCOUNTS_SCOPE);
  });

  it("an unavailable users.get is unavailable (retry), not a state", async () => {
    google = await startTestGoogle({ [DEV]: [] });
    google.outage("directory-users");
    const failure = await failureOf(lookUpFor(googleConfigFor(google.url, ON), testAwsCredentials)(DEV));
    expect(failure).toMatchObject({ step: "directory", unavailable: true, status: 503 });
  });
});

describe("GET /identity/groups with checkAccounts", () => {
  let database: TestDatabase;
  let edge: TestEdgeKey;
  let parts: Omit<OriginParts, "groups">;
  let fake: FakeGoogle;
  beforeAll(async () => {
    database = await withTestDatabase();
    await migrate(database.pool);
    edge = await testEdgeKey();
    parts = testOriginParts(edge, database);
    fake = await startTestGoogle(
      { [DEV]: ["eng@example.com"], "sus@example.com": ["eng@example.com"] },
      {
        accounts: { "sus@example.com": "suspended" },
      },
    );
  });
  afterAll(async () => {
    await fake?.close();
    await database?.close();
  });

  const ask = async (email: string, overrides: Record<string, unknown>) => {
    const app = createOriginApp({
      ...parts,
      groups: googleGroupLookUp(googleConfigFor(fake.url, overrides), testAwsCredentials),
    });
    const assertion = await edge.sign({ sub: "user-1", client_id: "client-1", purpose: "groups", email });
    const response = await app.request(IDENTITY_GROUPS_PATH, { headers: { [EDGE_ASSERTION_HEADER]: assertion } });
    expect(response.status).toBe(200);
    return (await response.json()) as Record<string, unknown>;
  };

  it("answers the account state beside the groups when on", async () => {
    expect(await ask(DEV, ON)).toMatchObject({ groups: ["eng@example.com"], source: "google-directory", account: "active" });
    expect(await ask("sus@example.com", ON)).toMatchObject({ groups: [], account: "suspended" });
  });

  it("answers no account field when off, whatever the Directory says", async () => {
    const body = await ask("sus@example.com", {});
    expect(body).toMatchObject({ groups: ["eng@example.com"] });
    expect(body).not.toHaveProperty("account");
  });
});
