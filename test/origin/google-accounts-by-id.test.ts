import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createOriginApp, type OriginParts } from "../../aws/origin/app.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { type GroupLookUp, googleGroupLookUp } from "../../aws/origin/identity/google/google-groups.ts";
import { EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { IDENTITY_GROUPS_PATH } from "../../contract/identity-groups.ts";
import type { FakeGoogle } from "../../local/fake-google/server.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { googleConfigFor, startTestGoogle, testAwsCredentials } from "./google-fake-setup.ts";
import { type TestEdgeKey, testEdgeKey, testOriginParts } from "./origin-under-test.ts";

// google.checkAccounts read by the user's unique id (Google sign-in's `sub`), against the fake Google's users.get: an
// address can pass to someone else (a deleted leaver's, given to a new hire), an id never does. Read by address, the
// leaver's grants would take the new hire's state, `active`, and live on.

const ADDRESS = "dev@example.com";
const LEAVER = "100000000000000000001";
const NEW_HIRE = "100000000000000000002";
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

/** The leaver had the address; it was deleted and the address given to a new hire, in the same groups. */
async function reusedAddress(): Promise<FakeGoogle> {
  const fake = await startTestGoogle({ [ADDRESS]: ["eng@example.com"] }, { ids: { [ADDRESS]: LEAVER } });
  fake.setAccount(ADDRESS, "deleted");
  fake.addUser(ADDRESS, NEW_HIRE, ["eng@example.com"]);
  return fake;
}

describe("an account read by its unique id", () => {
  it("is active, with its groups, while it still has the address", async () => {
    google = await startTestGoogle({ [ADDRESS]: ["eng@example.com"] }, { ids: { [ADDRESS]: LEAVER } });
    const lookUp = lookUpFor(googleConfigFor(google.url, ON), testAwsCredentials);
    expect(await lookUp(ADDRESS, undefined, LEAVER)).toMatchObject({ value: ["eng@example.com"], account: "active" });
  });

  it("a deleted leaver whose address a new hire has: deleted for the leaver's id, active for the new hire's", async () => {
    google = await reusedAddress();
    const lookUp = lookUpFor(googleConfigFor(google.url, ON), testAwsCredentials);
    expect(await lookUp(ADDRESS, undefined, LEAVER)).toMatchObject({ value: [], account: "deleted" });
    expect(await lookUp(ADDRESS, undefined, NEW_HIRE)).toMatchObject({ value: ["eng@example.com"], account: "active" });
    // By address, as an older edge asks: the new hire's state, whoever asks.
    expect(await lookUp(ADDRESS)).toMatchObject({ account: "active" });
  });

  it("a leaver renamed and their address given to a new hire: renamed for the leaver's id, with no groups", async () => {
    google = await startTestGoogle({ [ADDRESS]: ["eng@example.com"] }, { ids: { [ADDRESS]: LEAVER } });
    google.renameUser(ADDRESS, "former-dev@example.com");
    google.addUser(ADDRESS, NEW_HIRE, ["eng@example.com"]);
    const lookUp = lookUpFor(googleConfigFor(google.url, ON), testAwsCredentials);
    expect(await lookUp(ADDRESS, undefined, LEAVER)).toMatchObject({ value: [], account: "renamed" });
    expect(await lookUp("former-dev@example.com", undefined, LEAVER)).toMatchObject({ account: "active" });
    expect(await lookUp(ADDRESS, undefined, NEW_HIRE)).toMatchObject({ account: "active" });
  });

  it("a suspension of the id's own account is read as such, before its address", async () => {
    google = await startTestGoogle({ [ADDRESS]: ["eng@example.com"] }, { ids: { [ADDRESS]: LEAVER } });
    google.setAccount(ADDRESS, "suspended");
    const lookUp = lookUpFor(googleConfigFor(google.url, ON), testAwsCredentials);
    expect((await lookUp(ADDRESS, undefined, LEAVER)).account).toBe("suspended");
  });

  it("caches an id's answer apart from the address's and another id's", async () => {
    google = await reusedAddress();
    const lookUp = lookUpFor(googleConfigFor(google.url, { ...ON, cacheSeconds: 60 }), testAwsCredentials);
    expect((await lookUp(ADDRESS)).account).toBe("active");
    expect((await lookUp(ADDRESS, undefined, LEAVER)).account).toBe("deleted");
    expect((await lookUp(ADDRESS, undefined, NEW_HIRE)).account).toBe("active");
    expect((await lookUp(ADDRESS, undefined, LEAVER)).account).toBe("deleted");
    expect(google.requests["directory-users"]).toBe(3);
  });

  it("without checkAccounts the id reads nothing more: one entry for the address, no users.get", async () => {
    google = await reusedAddress();
    const lookUp = lookUpFor(googleConfigFor(google.url, { cacheSeconds: 60 }), testAwsCredentials);
    const found = await lookUp(ADDRESS, undefined, LEAVER);
    expect(found).not.toHaveProperty("account");
    await lookUp(ADDRESS, undefined, NEW_HIRE);
    expect(google.requests).toMatchObject({ directory: 1, "directory-users": 0 });
  });
});

describe("GET /identity/groups?accountBy=sub", () => {
  let database: TestDatabase;
  let edge: TestEdgeKey;
  let parts: Omit<OriginParts, "groups">;
  let fake: FakeGoogle;
  beforeAll(async () => {
    database = await withTestDatabase();
    await migrate(database.pool);
    edge = await testEdgeKey();
    parts = testOriginParts(edge, database);
    fake = await reusedAddress();
  });
  afterAll(async () => {
    await fake?.close();
    await database?.close();
  });

  const ask = async (sub: string, query: string, overrides: Record<string, unknown> = ON) => {
    const app = createOriginApp({
      ...parts,
      groups: googleGroupLookUp(googleConfigFor(fake.url, overrides), testAwsCredentials),
    });
    const assertion = await edge.sign({ sub, client_id: "client-1", purpose: "groups", email: ADDRESS });
    const response = await app.request(`${IDENTITY_GROUPS_PATH}${query}`, { headers: { [EDGE_ASSERTION_HEADER]: assertion } });
    expect(response.status).toBe(200);
    return (await response.json()) as Record<string, unknown>;
  };

  it("answers the state of the assertion's sub, and says so", async () => {
    expect(await ask(LEAVER, "?accountBy=sub")).toMatchObject({ groups: [], account: "deleted", accountBy: "sub" });
    expect(await ask(NEW_HIRE, "?maxAgeSeconds=900&accountBy=sub")).toMatchObject({
      groups: ["eng@example.com"],
      account: "active",
      accountBy: "sub",
    });
  });

  it("an older edge, which does not ask by sub, gets the address's state as before, with no accountBy", async () => {
    const body = await ask(LEAVER, "?maxAgeSeconds=900");
    expect(body).toMatchObject({ groups: ["eng@example.com"], account: "active" });
    expect(body).not.toHaveProperty("accountBy");
  });

  it("without checkAccounts there is no account to say anything of: neither field", async () => {
    const body = await ask(LEAVER, "?accountBy=sub", {});
    expect(body).not.toHaveProperty("account");
    expect(body).not.toHaveProperty("accountBy");
  });
});
