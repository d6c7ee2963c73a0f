import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createOriginApp, type OriginParts } from "../../aws/origin/app.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { googleGroupLookUp } from "../../aws/origin/identity/google/google-groups.ts";
import { EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { IDENTITY_GROUPS_PATH } from "../../contract/identity-groups.ts";
import type { FakeGoogle } from "../../local/fake-google/server.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { googleConfigFor, startTestGoogle, testAwsCredentials } from "./google-fake-setup.ts";
import { type TestEdgeKey, testEdgeKey, testOriginParts } from "./origin-under-test.ts";

// GET /identity/groups: opened only by an edge assertion minted for it, and only ever about the user it names.

let database: TestDatabase;
let edge: TestEdgeKey;
let google: FakeGoogle;
let parts: Omit<OriginParts, "groups">;

beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
  edge = await testEdgeKey();
  parts = testOriginParts(edge, database);
  google = await startTestGoogle({
    "dev@example.com": ["eng@example.com", "all@example.com"],
    "ops@example.com": ["ops@example.com", "admins@example.com"],
  });
});
afterEach(() => google.outage(undefined));
afterAll(async () => {
  await google?.close();
  await database?.close();
});

const app = () => createOriginApp({ ...parts, groups: googleGroupLookUp(googleConfigFor(google.url), testAwsCredentials) });

const assertion = (claims: Record<string, unknown>) => edge.sign({ sub: "user-1", client_id: "client-1", ...claims });

const askGroups = async (claims: Record<string, unknown> | undefined, query = "", served = app()) =>
  served.request(`${IDENTITY_GROUPS_PATH}${query}`, {
    headers: claims ? { [EDGE_ASSERTION_HEADER]: await assertion(claims) } : {},
  });

describe("GET /identity/groups", () => {
  it("answers the groups of the user the assertion names, with when the Directory said so", async () => {
    const before = Math.floor(Date.now() / 1000);
    const response = await askGroups({ purpose: "groups", email: "Dev@Example.com" });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as { groups: string[]; source: string; checkedAt: number };
    expect(body).toMatchObject({ groups: ["eng@example.com", "all@example.com"], source: "google-directory" });
    expect(body.checkedAt).toBeGreaterThanOrEqual(before);
  });

  it("ignores a user named in the query: only the assertion's own e-mail is looked up", async () => {
    const response = await askGroups(
      { purpose: "groups", email: "dev@example.com" },
      "?userKey=ops@example.com&email=ops@example.com",
    );
    expect(((await response.json()) as { groups: string[] }).groups).toEqual(["eng@example.com", "all@example.com"]);
  });

  it("reads the Directory again for an edge that takes no answer as old as the cached one", async () => {
    const cached = { ...googleConfigFor(google.url), cacheSeconds: 60 };
    const served = createOriginApp({ ...parts, groups: googleGroupLookUp(cached, testAwsCredentials) });
    const groupsOf = async (query: string) =>
      ((await (await askGroups({ purpose: "groups", email: "ops@example.com" }, query, served)).json()) as { groups: string[] })
        .groups;
    expect(await groupsOf("")).toEqual(["ops@example.com", "admins@example.com"]);
    google.setGroups("ops@example.com", ["ops@example.com"]);
    try {
      // The cache (a minute) answers an edge that takes its age, and one that says nothing or something unreadable.
      for (const query of ["", "?maxAgeSeconds=60", "?maxAgeSeconds=soon"])
        expect(await groupsOf(query), query).toEqual(["ops@example.com", "admins@example.com"]);
      expect(await groupsOf("?maxAgeSeconds=0")).toEqual(["ops@example.com"]);
    } finally {
      google.setGroups("ops@example.com", ["ops@example.com", "admins@example.com"]);
    }
  });

  it("refuses a request without an assertion", async () => {
    const response = await askGroups(undefined);
    expect(response.status).toBe(401);
  });

  it.each(["mcp", "audit-delivery", "ops"])("refuses an assertion minted for %s", async (purpose) => {
    const response = await askGroups({ purpose, email: "dev@example.com", server: "everything" });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: "invalid_edge_assertion", reason: "purpose" });
  });

  it("refuses an assertion without a purpose (it means an MCP request)", async () => {
    const response = await askGroups({ email: "dev@example.com" });
    expect(response.status).toBe(403);
  });

  it("refuses an assertion that names no e-mail", async () => {
    const response = await askGroups({ purpose: "groups" });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "no_email" });
  });

  it("says when this origin has no Google look-up", async () => {
    const response = await askGroups({ purpose: "groups", email: "dev@example.com" }, "", createOriginApp(parts));
    expect(response.status).toBe(404);
    expect(((await response.json()) as { message: string }).message).toMatch(/origin\.google/);
  });

  it("answers 503 with Retry-After, naming the step, while Google is unavailable", async () => {
    google.outage("directory");
    const response = await askGroups({ purpose: "groups", email: "dev@example.com" });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("10");
    expect(await response.json()).toMatchObject({ error: "google_unavailable", step: "directory" });
  });

  it("answers 502 naming the step when Google refuses (a configuration to fix)", async () => {
    const refused = createOriginApp({
      ...parts,
      groups: googleGroupLookUp(googleConfigFor(google.url, { adminUser: "dev@example.com" }), testAwsCredentials),
    });
    const response = await askGroups({ purpose: "groups", email: "dev@example.com" }, "", refused);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: "google_refused", step: "directory" });
  });
});
