import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { OPS_CONNECTIONS_PATH, OPS_CONNECTIONS_REVOKE_PATH, OpsConnections } from "../../contract/ops-connections.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { ADMIN_EMAIL, type OpsOrigin, opsOrigin, postJson } from "./ops-origin.ts";

// GET /ops/connections and POST /ops/connections/revoke against a real database: an administrator sees and revokes
// everyone's upstream connections, a user only their own; no answer carries a token; every revocation is audited as
// the CLI audits it.
let database: TestDatabase;
let origin: OpsOrigin;

const ACCESS_TOKEN = "upstream-access-token-never-shown";
const REFRESH_TOKEN = "upstream-refresh-token-never-shown";
const ANA = { sub: "ana-sub", email: "ana@example.com", client_id: "ops-dashboard", purpose: "own-connections" };
/** Another account of the identity provider that was once given Ana's e-mail address. */
const ANA_NAMESAKE = { sub: "other-ana-sub", email: "ana@example.com", client_id: "ops-dashboard", purpose: "own-connections" };

beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
  origin = await opsOrigin(database);
});
afterAll(async () => {
  await database?.close();
});

beforeEach(async () => {
  await database.pool.query("DELETE FROM upstream_tokens; DELETE FROM audit_events");
  const vault = new TokenVault(database.pool, localKeyWrapper(randomBytes(32)));
  const connection = {
    accessToken: ACCESS_TOKEN,
    refreshToken: REFRESH_TOKEN,
    client: { client_id: "gateway-client", client_secret: "client-secret-never-shown" },
    issuer: "https://as.example",
    expiresAt: Date.parse("2030-01-01T00:00:00Z"),
  };
  await vault.put({ sub: "ana-sub", email: "ana@example.com", server: "crm" }, connection);
  await vault.put({ sub: "ana-sub", email: "ana@example.com", server: "wiki" }, connection);
  await vault.put({ sub: "bo-sub", email: "bo@example.com", server: "crm" }, { ...connection, expiresAt: undefined });
});

const list = async (claims?: Record<string, unknown>) => {
  const response = await origin.call(OPS_CONNECTIONS_PATH, {}, claims);
  expect(response.status).toBe(200);
  const text = await response.text();
  for (const secret of [ACCESS_TOKEN, REFRESH_TOKEN, "client-secret-never-shown", "gateway-client"])
    expect(text).not.toContain(secret);
  return OpsConnections.parse(JSON.parse(text));
};
const pairs = (listed: OpsConnections) => listed.connections.map(({ email, server }) => `${email} ${server}`);
const revoke = (body: unknown, claims?: Record<string, unknown>) =>
  origin.call(OPS_CONNECTIONS_REVOKE_PATH, postJson(body), claims);
const stored = async () =>
  (await database.pool.query("SELECT user_email, server FROM upstream_tokens ORDER BY user_email, server")).rows.map(
    (row) => `${row.user_email} ${row.server}`,
  );
const audited = async () =>
  (
    await database.pool.query(
      "SELECT user_email, user_sub, server, client_id, count FROM audit_events WHERE kind = 'upstream.revoked' ORDER BY time",
    )
  ).rows;

const EVERYONE = ["ana@example.com crm", "ana@example.com wiki", "bo@example.com crm"];

describe("GET /ops/connections", () => {
  it("shows an administrator every user's connections with their times, never a token", async () => {
    const listed = await list();
    expect(listed.scope).toBe("all");
    expect(pairs(listed)).toEqual(EVERYONE);
    const [first] = listed.connections;
    expect(first).toMatchObject({ sub: "ana-sub", expiresAt: "2030-01-01T00:00:00.000Z" });
    expect(Date.parse(first?.connectedSince ?? "")).toBeLessThanOrEqual(Date.parse(first?.lastRefreshed ?? ""));
    expect(listed.connections[2]?.expiresAt).toBeNull();
  });

  it("shows a user who is not an administrator only their own, and nothing to another account with their e-mail", async () => {
    const own = await list(ANA);
    expect(own.scope).toBe("own");
    expect(pairs(own)).toEqual(["ana@example.com crm", "ana@example.com wiki"]);
    expect((await list(ANA_NAMESAKE)).connections).toEqual([]);
  });

  it("refuses no assertion (401), other purposes and an assertion without an e-mail (403)", async () => {
    expect((await origin.app.request(OPS_CONNECTIONS_PATH)).status).toBe(401);
    for (const purpose of ["mcp", "warm", "groups", "audit-delivery", "upstream-oauth"]) {
      const refused = await origin.call(OPS_CONNECTIONS_PATH, {}, { ...ANA, email: ADMIN_EMAIL, purpose });
      expect(refused.status, purpose).toBe(403);
      expect(await refused.json()).toMatchObject({ reason: "purpose" });
    }
    const anonymous = await origin.call(OPS_CONNECTIONS_PATH, {}, { sub: "a", client_id: "c", purpose: "ops" });
    expect(anonymous.status).toBe(403);
    expect(await anonymous.json()).toMatchObject({ error: "no_email" });
  });
});

describe("POST /ops/connections/revoke", () => {
  it("revokes one server of a user for an administrator, then offboards another, each audited under the administrator", async () => {
    const one = await revoke({ user: "ana@example.com", server: "wiki" });
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ revoked: 1, by: ADMIN_EMAIL });
    expect(await stored()).toEqual(["ana@example.com crm", "bo@example.com crm"]);
    expect(await (await revoke({ sub: "bo-sub" })).json()).toEqual({ revoked: 1, by: ADMIN_EMAIL });
    expect(pairs(await list())).toEqual(["ana@example.com crm"]);
    expect(await audited()).toEqual([
      { user_email: "ana@example.com", user_sub: null, server: "wiki", client_id: `operator:${ADMIN_EMAIL}`, count: 1 },
      { user_email: null, user_sub: "bo-sub", server: null, client_id: `operator:${ADMIN_EMAIL}`, count: 1 },
    ]);
  });

  it("deletes nothing when the revocation's audit record cannot be written, and answers an error", async () => {
    await database.pool.query("ALTER TABLE audit_events RENAME TO audit_events_away");
    try {
      expect((await revoke({ user: "ana@example.com" })).status).toBe(500);
    } finally {
      await database.pool.query("ALTER TABLE audit_events_away RENAME TO audit_events");
    }
    expect(await stored()).toEqual(EVERYONE);
  });

  it("lets a user revoke their own connections, recorded under their own e-mail", async () => {
    const answer = await revoke({ user: "ANA@example.com", server: "crm" }, ANA);
    expect(await answer.json()).toEqual({ revoked: 1, by: "ana@example.com" });
    expect((await revoke({ sub: "ana-sub" }, ANA)).status).toBe(200);
    expect(await stored()).toEqual(["bo@example.com crm"]);
    expect(await audited()).toEqual([
      { user_email: "ana@example.com", user_sub: "ana-sub", server: "crm", client_id: "operator:ana@example.com", count: 1 },
      { user_email: "ana@example.com", user_sub: "ana-sub", server: null, client_id: "operator:ana@example.com", count: 1 },
    ]);
  });

  it("refuses a user who is not an administrator revoking another's, by e-mail or id, and deletes nothing", async () => {
    for (const body of [{ user: "bo@example.com" }, { user: "bo@example.com", server: "crm" }, { sub: "bo-sub" }]) {
      const refused = await revoke(body, ANA);
      expect(refused.status, JSON.stringify(body)).toBe(403);
      expect(await refused.json()).toMatchObject({ error: "not_your_connection" });
    }
    // The namesake names Ana's e-mail, but only its own account's rows (none) may go.
    expect(await (await revoke({ user: "ana@example.com" }, ANA_NAMESAKE)).json()).toMatchObject({ revoked: 0 });
    expect((await revoke({ sub: "ana-sub" }, ANA_NAMESAKE)).status).toBe(403);
    expect(await stored()).toEqual(EVERYONE);
    expect((await audited()).map((row) => row.user_sub)).toEqual(["other-ana-sub"]);
  });

  it("refuses other purposes and malformed requests, deleting nothing", async () => {
    expect((await origin.app.request(OPS_CONNECTIONS_REVOKE_PATH, postJson({ user: "bo@example.com" }))).status).toBe(401);
    for (const purpose of ["mcp", "warm", "groups"]) {
      const refused = await revoke({ user: "bo@example.com" }, { ...ANA, email: ADMIN_EMAIL, purpose });
      expect(refused.status, purpose).toBe(403);
    }
    for (const body of [{}, { user: "bo@example.com", sub: "bo-sub" }, { user: "" }, { user: "bo@example.com", token: "x" }]) {
      const malformed = await revoke(body);
      expect(malformed.status, JSON.stringify(body)).toBe(400);
      expect(await malformed.json()).toMatchObject({ error: "invalid_revocation" });
    }
    expect(await stored()).toEqual(EVERYONE);
    expect(await audited()).toEqual([]);
  });
});
