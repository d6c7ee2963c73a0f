import { createHash, createHmac, pbkdf2Sync, randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditRetention, purgeAuditEvents } from "../../aws/origin/audit/retention.ts";
import { ensureSchema } from "../../aws/origin/db/ensure-schema.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createPool } from "../../aws/origin/db/pool.ts";
import { APP_FUNCTIONS, APP_GRANTS, APP_SCHEMA, ensureAppRole, scramSha256Verifier } from "../../aws/origin/db/roles.ts";
import { createPinStore } from "../../aws/origin/pinning/pin-store.ts";
import { createReplayGuard } from "../../aws/origin/trust/replay-guard.ts";
import { PendingAuthorizations } from "../../aws/origin/upstream-auth/pending-authorizations.ts";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { auditEvent, chainedStore, verifyAll } from "./audit-chain-fixture.ts";
import { type TestDatabase, usesEmbeddedDatabase, withTestDatabase } from "./database.ts";

const DAY = 86_400_000;
const PASSWORD = "app-role-password-0123456789";

/** Every table, view and sequence of the migrated schema, and every function, by name. */
async function schemaObjects(pool: pg.Pool): Promise<{ relations: string[]; functions: string[] }> {
  const relations = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') ORDER BY 1`,
    [APP_SCHEMA],
  );
  const functions = await pool.query<{ signature: string }>(
    `SELECT p.proname || '(' || oidvectortypes(p.proargtypes) || ')' AS signature
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 ORDER BY 1`,
    [APP_SCHEMA],
  );
  return {
    relations: relations.rows.map((row) => row.name),
    functions: functions.rows.map((row) => row.signature.replaceAll("timestamp with time zone", "timestamptz")),
  };
}

// Runs on the embedded database too: it needs no role, only the migrated schema.
describe("the grants table (aws/origin/db/roles.ts APP_GRANTS)", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });

  it("names every table and sequence the migrations create, and nothing else: a new table needs its grants", async () => {
    const { relations } = await schemaObjects(db.pool);
    const unnamed = relations.filter((name) => !(name in APP_GRANTS));
    expect(unnamed, "relations missing from APP_GRANTS in aws/origin/db/roles.ts").toEqual([]);
    expect(Object.keys(APP_GRANTS).sort()).toEqual(relations);
  });

  it("names every function of the schema, and no privilege but the four DML ones", async () => {
    const { functions } = await schemaObjects(db.pool);
    expect([...APP_FUNCTIONS].sort()).toEqual(functions);
    for (const privileges of Object.values(APP_GRANTS)) {
      for (const privilege of privileges) expect(privilege).toMatch(/^(SELECT|INSERT|DELETE|UPDATE \([a-z_, ]+\))$/);
    }
    expect(APP_GRANTS.audit_events).toEqual(["SELECT", "INSERT"]);
  });
});

describe("the app role's settings", () => {
  it.each([
    ["too short", "short-password", /too short/],
    ["not ASCII (it would reach the server unhashed)", "pässwörd-0123456789", /printable ASCII without spaces/],
    ["holding a space", "pass word 0123456789", /printable ASCII without spaces/],
  ])("refuses a password %s before connecting", async (_, password, message) => {
    await expect(
      ensureAppRole("postgres://owner@127.0.0.1:9/never-reached", { role: "mcp_origin_app", password, minPurgeAgeDays: 30 }),
    ).rejects.toThrow(message);
  });
});

/**
 * The origin as it runs on AWS: the schema owned by a login like the RDS master user (CREATEROLE, owner of the
 * database, not a superuser), which migrates and grants; the origin connected as its own role. Roles belong to the
 * whole server, so each run names its own.
 */
describe.skipIf(usesEmbeddedDatabase)("the origin's database role, on a PostgreSQL server (needs DATABASE_URL)", () => {
  const serverUrl = process.env.DATABASE_URL as string;
  const suffix = randomBytes(4).toString("hex");
  const owner = `mcp_owner_${suffix}`;
  const app = `mcp_app_${suffix}`;
  let db: TestDatabase;
  let ownerPool: pg.Pool;
  let appPool: pg.Pool;
  const urlAs = (user: string) => {
    const url = new URL(db.url);
    url.username = user;
    url.password = PASSWORD;
    return url.toString();
  };
  /** As the server's superuser (the test's own DATABASE_URL), on the test database. */
  const asSuperuser = (sql: string, values: unknown[] = []) => db.pool.query(sql, values);

  beforeAll(async () => {
    db = await withTestDatabase();
    const name = new URL(db.url).pathname.slice(1);
    await asSuperuser(`CREATE ROLE ${owner} LOGIN CREATEROLE PASSWORD '${PASSWORD}'`);
    await asSuperuser(`ALTER DATABASE ${name} OWNER TO ${owner}`);
    // PostgreSQL 15 and later: the database's owner owns the public schema (pg_database_owner); before, say so.
    await asSuperuser(`ALTER SCHEMA public OWNER TO ${owner}`);
    ownerPool = createPool(urlAs(owner), { max: 2 });
    await migrate(ownerPool);
    expect(await ensureAppRole(ownerPool, { role: app, password: PASSWORD, minPurgeAgeDays: 30 })).toEqual({
      created: true,
      warnings: [],
    });
    appPool = createPool(urlAs(app), { max: 4 });
  });
  afterAll(async () => {
    await Promise.all([ownerPool?.end(), appPool?.end()]);
    await db?.close();
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(`DROP ROLE IF EXISTS ${app}`);
      await client.query(`DROP ROLE IF EXISTS ${owner}`);
    } finally {
      await client.end();
    }
  });

  /** The SQLSTATE a statement failed with as the origin's role (undefined: it succeeded). */
  const refusal = async (sql: string, values: unknown[] = []) => {
    try {
      await appPool.query(sql, values);
      return undefined;
    } catch (error) {
      return (error as { code?: string }).code;
    }
  };

  it("logs in as a role that owns nothing and holds no attribute but LOGIN", async () => {
    const { rows } = await appPool.query("SELECT current_user AS user");
    expect(rows[0].user).toBe(app);
    const role = await asSuperuser(
      "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1",
      [app],
    );
    expect(role.rows[0]).toEqual({
      rolsuper: false,
      rolcreaterole: false,
      rolcreatedb: false,
      rolreplication: false,
      rolbypassrls: false,
      rolcanlogin: true,
    });
    const owned = await asSuperuser("SELECT count(*)::int AS n FROM pg_class WHERE relowner = $1::regrole", [app]);
    expect(owned.rows[0].n).toBe(0);
    const tables = await asSuperuser("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'");
    expect(tables.rows).toEqual([{ tableowner: owner }]);
  });

  it("holds exactly the privileges of APP_GRANTS on every table", async () => {
    for (const [table, privileges] of Object.entries(APP_GRANTS)) {
      const kind = await asSuperuser("SELECT relkind::text AS kind FROM pg_class WHERE relname = $1", [table]);
      if (kind.rows[0]?.kind === "S") {
        const usage = await asSuperuser("SELECT has_sequence_privilege($1, $2, 'USAGE') AS usage", [app, table]);
        expect(usage.rows[0].usage, table).toBe(privileges.includes("USAGE"));
        continue;
      }
      const held: string[] = [];
      for (const privilege of ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]) {
        const { rows } = await asSuperuser(
          privilege === "UPDATE"
            ? "SELECT has_any_column_privilege($1, $2, $3) AS held"
            : "SELECT has_table_privilege($1, $2, $3) AS held",
          [app, `public.${table}`, privilege],
        );
        if (rows[0].held) held.push(privilege);
      }
      expect(held, table).toEqual(
        ["SELECT", "INSERT", "UPDATE", "DELETE"].filter((p) => privileges.some((granted) => granted.startsWith(p))),
      );
    }
  });

  it("runs the origin's write paths: audit with checkpoints, replay guard, pins, token vault, pending consents", async () => {
    const chained = chainedStore(appPool, 3);
    expect(await chained.store.insert([auditEvent(), auditEvent(), auditEvent(), auditEvent()])).toEqual({ inserted: 4 });
    await chained.checkpoints.signHeads();
    await chained.checkpoints.stop();
    expect((await chained.store.recent(10)).length).toBe(4);

    const guard = createReplayGuard(appPool, { purgeIntervalMs: 0 });
    expect(await guard.claim(`jti-${randomUUID()}`, new Date(Date.now() + 60_000))).toBe(true);
    const jti = `jti-${randomUUID()}`;
    expect(await guard.claim(jti, new Date(Date.now() + 60_000))).toBe(true);
    expect(await guard.claim(jti, new Date(Date.now() + 60_000))).toBe(false);
    await guard.idle();
    expect(await guard.purgeExpired()).toBeGreaterThanOrEqual(0);

    const pins = createPinStore(appPool);
    const key = { server: "github", kind: "tool" as const, name: "search", fingerprint: "f1" };
    expect(await pins.record({ ...key, definition: { name: "search" } }, "approved")).toBe(true);
    expect(await pins.record({ ...key, fingerprint: "f2", definition: { name: "search", v: 2 } }, "pending")).toBe(true);
    // A decision and its audit record in one transaction (appendWithAction), as the ops route makes it.
    const approved = await chained.store.insertWith(async (client) => ({
      result: await pins.approve({ ...key, fingerprint: "f2" }, "admin@example.com", client),
      events: [auditEvent({ kind: "definition.approved" })],
    }));
    expect(approved).toBe(true);
    expect((await pins.changedSince()).map((pin) => `${pin.fingerprint}:${pin.status}`).sort()).toEqual([
      "f1:superseded",
      "f2:approved",
    ]);

    const keys = localKeyWrapper(randomBytes(32));
    const vault = new TokenVault(appPool, keys);
    const owner = { sub: "user-1", email: "ada@example.com", server: "github" };
    const connection = { accessToken: "a", refreshToken: "r", client: { client_id: "c" }, issuer: "https://issuer.example" };
    await vault.put(owner, connection);
    await vault.put(owner, { ...connection, accessToken: "b" });
    const mark = await vault.beginRefresh(owner, 60_000);
    expect(mark).toBeDefined();
    expect(await vault.putRefreshed(owner, { ...connection, accessToken: "c" }, mark as never)).toBe(true);
    expect((await vault.get(owner))?.accessToken).toBe("c");
    expect((await vault.list()).length).toBe(1);
    expect(await vault.revoke({ sub: "user-1" })).toBe(1);

    const pending = new PendingAuthorizations(appPool, keys);
    const state = randomUUID();
    const flow = { codeVerifier: "v", client: { client_id: "c" }, issuer: "i", resource: "r", redirectUri: "https://x" };
    await pending.put(state, owner, flow);
    expect((await pending.take(state))?.pending).toEqual(flow);
    expect(await pending.take(state)).toBeUndefined();

    // At start: nothing pending, so neither migrate() nor the verify mode needs DDL.
    expect(await migrate(appPool)).toEqual({ applied: [] });
    expect(await ensureSchema(appPool, "verify", () => {})).toEqual({ applied: [] });
    expect(await verifyAll(appPool)).toMatchObject({ problems: [] });
  });

  it("is refused by PostgreSQL whatever would rewrite or erase the audit trail, or change the schema", async () => {
    const row = (await appPool.query<{ id: string }>("SELECT id::text FROM audit_events LIMIT 1")).rows[0]?.id;
    expect(row).toBeDefined();
    const DENIED = "42501"; // insufficient_privilege
    const refused: Record<string, string | undefined> = {
      "UPDATE an audit row": await refusal("UPDATE audit_events SET user_email = 'x@example.com' WHERE id = $1", [row]),
      "DELETE an audit row": await refusal("DELETE FROM audit_events WHERE id = $1", [row]),
      "TRUNCATE the audit table": await refusal("TRUNCATE audit_events"),
      "DROP the audit table": await refusal("DROP TABLE audit_events"),
      "CREATE a table": await refusal("CREATE TABLE evil (id int)"),
      "CREATE a temporary table": await refusal("CREATE TEMP TABLE evil (id int)"),
      "ALTER the audit table": await refusal("ALTER TABLE audit_events ADD COLUMN evil int"),
      "disable the audit table's triggers": await refusal("ALTER TABLE audit_events DISABLE TRIGGER ALL"),
      "CREATE a function": await refusal("CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'"),
      "CREATE a schema": await refusal("CREATE SCHEMA evil"),
      "CREATE a role": await refusal("CREATE ROLE evil"),
      "become the owner": await refusal(`SET ROLE ${owner}`),
      "record a purge by hand": await refusal(
        "INSERT INTO audit_chain_purges (chain, from_seq, to_seq, cutoff) VALUES (1, 1, 1000, now())",
      ),
      "lower the purge age": await refusal("UPDATE audit_purge_policy SET min_age_days = 1"),
      "DELETE a checkpoint": await refusal("DELETE FROM audit_checkpoints"),
      "UPDATE a checkpoint key": await refusal("UPDATE audit_checkpoint_keys SET public_key = '\\x00'"),
      "move a chain's start": await refusal("UPDATE audit_chains SET started_at = now()"),
      "add a chain": await refusal("INSERT INTO audit_chains (chain) VALUES (99)"),
      "rewrite a pinned definition": await refusal("UPDATE pinned_definitions SET definition = '{}'"),
      "DELETE a pinned definition": await refusal("DELETE FROM pinned_definitions"),
      "rewrite the migrations record": await refusal("DELETE FROM pgmigrations"),
      "purge recent rows (record)": await refusal("SELECT audit_purge_record(now())"),
      "purge recent rows (delete)": await refusal("SELECT audit_purge_delete(now() - interval '29 days', 10)"),
      "purge with no cut-off": await refusal("SELECT audit_purge_delete(NULL, 10)"),
    };
    expect(refused).toEqual(Object.fromEntries(Object.keys(refused).map((what) => [what, DENIED])));
    // Nothing changed meanwhile.
    expect((await appPool.query("SELECT count(*)::int AS n FROM audit_events")).rows[0].n).toBeGreaterThan(0);
    await expect(purgeAuditEvents(appPool, new Date(Date.now() - DAY))).rejects.toThrow(
      /audit purge refused: cut-off .* is less than 30 days ago/,
    );
  });

  it("purges old events through retention as the origin's role, keeps recent ones, and the chains still verify", async () => {
    await asSuperuser("TRUNCATE audit_events, audit_checkpoints, audit_checkpoint_keys, audit_chain_purges");
    await asSuperuser("UPDATE audit_chains SET seq = 0, hash = decode(repeat('00', 32), 'hex')");
    const chained = chainedStore(appPool, 2);
    const at = (age: number) => auditEvent({ time: new Date(Date.now() - age).toISOString() });
    // Old and recent events interleaved in the chains: the holes retention leaves fall between kept rows.
    for (const batch of [[at(400 * DAY), at(40 * DAY)], [at(DAY), at(29 * DAY)], [at(31 * DAY)], [at(2 * DAY), at(60 * DAY)]]) {
      await chained.store.insert(batch);
    }
    await chained.checkpoints.signHeads();
    await chained.checkpoints.stop();
    const lines: string[] = [];
    const job = auditRetention({ pool: appPool, retentionDays: 30, log: (line) => lines.push(line), intervalMs: 3_600_000 });
    job.start();
    await expect.poll(() => lines.length, { timeout: 10_000 }).toBe(1);
    await job.stop();
    expect(lines[0]).toMatch(/^audit retention: deleted 4 events older than \S+Z \(30 days\)$/);
    const ages = await appPool.query<{ days: number }>(
      "SELECT round(extract(epoch FROM now() - time) / 86400)::int AS days FROM audit_events ORDER BY time",
    );
    expect(ages.rows.map((row) => row.days)).toEqual([29, 2, 1]);
    expect(await verifyAll(appPool)).toMatchObject({ problems: [], rows: 3 });
  });

  it("applies again idempotently, taking back a privilege granted by hand, and keeps the owner's minimum age", async () => {
    await asSuperuser(`GRANT UPDATE, DELETE, TRUNCATE ON audit_events TO ${app}`);
    await asSuperuser(`GRANT CREATE ON SCHEMA public TO ${app}`);
    expect(await refusal("DELETE FROM audit_events WHERE false")).toBeUndefined();
    expect(await ensureAppRole(ownerPool, { role: app, password: PASSWORD, minPurgeAgeDays: 365 })).toEqual({
      created: false,
      warnings: [],
    });
    expect(await refusal("DELETE FROM audit_events WHERE false")).toBe("42501");
    expect(await refusal("CREATE TABLE evil (id int)")).toBe("42501");
    const policy = await appPool.query("SELECT min_age_days FROM audit_purge_policy");
    expect(policy.rows).toEqual([{ min_age_days: 365 }]);
    await expect(purgeAuditEvents(appPool, new Date(Date.now() - 100 * DAY))).rejects.toThrow(/less than 365 days ago/);
    await ensureAppRole(ownerPool, { role: app, password: PASSWORD, minPurgeAgeDays: 30 });
  });

  it("refuses a role that could do more than its grants, naming why", async () => {
    await asSuperuser(`ALTER ROLE ${app} CREATEDB`);
    try {
      await expect(ensureAppRole(ownerPool, { role: app, password: PASSWORD, minPurgeAgeDays: 30 })).rejects.toThrow(
        new RegExp(`the app role ${app} may do more than its grants \\(it has CREATEDB\\)`),
      );
    } finally {
      await asSuperuser(`ALTER ROLE ${app} NOCREATEDB`);
    }
    await asSuperuser(`GRANT pg_read_all_data TO ${app}`);
    try {
      await expect(ensureAppRole(ownerPool, { role: app, password: PASSWORD, minPurgeAgeDays: 30 })).rejects.toThrow(
        "it is a member of pg_read_all_data",
      );
    } finally {
      await asSuperuser(`REVOKE pg_read_all_data FROM ${app}`);
    }
  });

  it("stores the password as a SCRAM-SHA-256 verifier that PostgreSQL took as one", async () => {
    const { rows } = await asSuperuser("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [app]);
    const stored = rows[0].rolpassword as string;
    const match = /^SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(stored);
    expect(match).not.toBeNull();
    // Computed again from the password and the stored salt: what PostgreSQL checks a client's proof against.
    expect(scramSha256Verifier(PASSWORD, Buffer.from(match?.[1] as string, "base64"))).toBe(stored);
    // And as RFC 5802 defines the keys, independently of the function.
    const salted = pbkdf2Sync(PASSWORD, Buffer.from(match?.[1] as string, "base64"), 4096, 32, "sha256");
    const clientKey = createHmac("sha256", salted).update("Client Key").digest();
    expect(createHash("sha256").update(clientKey).digest("base64")).toBe(match?.[2]);
  });
});
