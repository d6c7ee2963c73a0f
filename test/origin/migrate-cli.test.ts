import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOriginConfig } from "../../aws/origin/config.ts";
import { ensureSchema, MIGRATE_COMMAND, SchemaNotCurrentError } from "../../aws/origin/db/ensure-schema.ts";
import { MIGRATIONS_TABLE, migrate, migrationNames } from "../../aws/origin/db/migrate.ts";
import { createPool } from "../../aws/origin/db/pool.ts";
import { type TestDatabase, usesEmbeddedDatabase, withTestDatabase } from "./database.ts";

const CLI = fileURLToPath(new URL("../../aws/origin/db/migrate-cli.ts", import.meta.url));
const PASSWORD = "app-role-password-0123456789";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The command as the init container runs it, in a child process (the embedded database answers from this one). */
function cli(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["DATABASE_URL", "DATABASE_APP_USER", "DATABASE_APP_PASSWORD", "AUDIT_RETENTION_DAYS"])
    delete childEnv[name];
  for (const [name, value] of Object.entries(env)) if (value !== undefined) childEnv[name] = value;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: childEnv }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe("the origin's schema check at start (ensureSchema)", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await withTestDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("reads the mode from databaseMigrate (DATABASE_MIGRATE): at-start unless it says verify, anything else refused", () => {
    const env = { ORIGIN_PUBLIC_URL: "https://origin.example", EDGE_ISSUER: "https://edge.example" };
    expect(loadOriginConfig(env).databaseMigrate).toBe("at-start");
    expect(loadOriginConfig({ ...env, DATABASE_MIGRATE: "verify" }).databaseMigrate).toBe("verify");
    expect(() => loadOriginConfig({ ...env, DATABASE_MIGRATE: "never" })).toThrow(/DATABASE_MIGRATE/);
  });

  it("in verify mode refuses an unmigrated database, naming every migration and the command to run", async () => {
    const names = await migrationNames();
    const refused = ensureSchema(db.pool, "verify", () => {});
    await expect(refused).rejects.toBeInstanceOf(SchemaNotCurrentError);
    await expect(refused).rejects.toThrow(`migrations ${names.join(", ")} have not been applied`);
    // It only read: no migrations table was made.
    const { rows } = await db.pool.query("SELECT to_regclass($1) IS NULL AS absent", [MIGRATIONS_TABLE]);
    expect(rows[0].absent).toBe(true);
  });

  it("at start migrates and says what it applied; in verify mode refuses a pending migration, then starts once it ran", async () => {
    const lines: string[] = [];
    const names = await migrationNames();
    expect(await ensureSchema(db.pool, "at-start", (line) => lines.push(line))).toEqual({ applied: names });
    expect(lines).toEqual([`database migrations applied: ${names.join(", ")}`]);
    expect(await ensureSchema(db.pool, "verify", (line) => lines.push(line))).toEqual({ applied: [] });

    // The release brings a migration the owner has not applied yet.
    const last = names.at(-1) as string;
    await db.pool.query(`DELETE FROM ${MIGRATIONS_TABLE} WHERE name = $1`, [last]);
    const refused = ensureSchema(db.pool, "verify", () => {});
    await expect(refused).rejects.toThrow(
      new RegExp(`^the database schema is not current: migration ${last} has not been applied, and this origin does not migrate`),
    );
    await expect(refused).rejects.toThrow(MIGRATE_COMMAND);
    await db.pool.query(`INSERT INTO ${MIGRATIONS_TABLE} (name, run_on) VALUES ($1, now())`, [last]);
    expect(await ensureSchema(db.pool, "verify", () => {})).toEqual({ applied: [] });

    // A newer release's migration (a rollback): harmless, said once.
    await db.pool.query(`INSERT INTO ${MIGRATIONS_TABLE} (name, run_on) VALUES ('9999_from_the_future', now())`);
    const said: string[] = [];
    expect(await ensureSchema(db.pool, "verify", (line) => said.push(line))).toEqual({ applied: [] });
    expect(said).toEqual(["database schema is ahead of this release (migrations 9999_from_the_future): starting anyway"]);
    await db.pool.query(`DELETE FROM ${MIGRATIONS_TABLE} WHERE name = '9999_from_the_future'`);
  });
});

describe("node aws/origin/db/migrate-cli.ts", () => {
  it("explains itself, and refuses a missing database, password or a bad retention with exit 2", async () => {
    const help = await cli(["--help"], {});
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining("usage: node aws/origin/db/migrate-cli.ts") });
    expect(await cli([], {})).toMatchObject({ code: 2, stderr: expect.stringMatching(/^migrate: DATABASE_URL is not set/) });
    expect(await cli([], { DATABASE_URL: "postgres://x@127.0.0.1:1/x" })).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^migrate: DATABASE_APP_PASSWORD is not set/),
    });
    const badRetention = await cli([], {
      DATABASE_URL: "postgres://x@127.0.0.1:1/x",
      DATABASE_APP_PASSWORD: PASSWORD,
      AUDIT_RETENTION_DAYS: "thirty",
    });
    expect(badRetention).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("AUDIT_RETENTION_DAYS: expected a whole number"),
    });
    expect(await cli(["--frobnicate"], {})).toMatchObject({ code: 2, stderr: expect.stringContaining("--frobnicate") });
  });

  it("fails with exit 1 when the database cannot be reached", async () => {
    const run = await cli(["--migrations-only"], { DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" });
    expect(run).toMatchObject({ code: 1, stderr: expect.stringMatching(/^migrate: failed: /) });
  });

  it("--migrations-only applies the migrations, then finds none pending", async () => {
    const db = await withTestDatabase();
    try {
      const names = await migrationNames();
      expect(await cli(["--migrations-only"], { DATABASE_URL: db.url })).toMatchObject({
        code: 0,
        stdout: `migrations applied: ${names.join(", ")}\n`,
      });
      expect(await cli(["--migrations-only"], { DATABASE_URL: db.url })).toMatchObject({
        code: 0,
        stdout: "migrations: none pending\n",
      });
    } finally {
      await db.close();
    }
  });

  describe.skipIf(usesEmbeddedDatabase)("with the origin's role, on a PostgreSQL server (needs DATABASE_URL)", () => {
    const app = `mcp_app_${randomBytes(4).toString("hex")}`;
    let db: TestDatabase;
    let appPool: pg.Pool | undefined;
    const appUrl = () => {
      const url = new URL(db.url);
      url.username = app;
      url.password = PASSWORD;
      return url.toString();
    };
    beforeAll(async () => {
      db = await withTestDatabase();
    });
    afterAll(async () => {
      await appPool?.end();
      await db?.close();
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`DROP ROLE IF EXISTS ${app}`).finally(() => client.end());
    });

    it("migrates, creates the role with its grants, and does it again idempotently", async () => {
      const env = { DATABASE_URL: db.url, DATABASE_APP_USER: app, DATABASE_APP_PASSWORD: PASSWORD, AUDIT_RETENTION_DAYS: "90" };
      const first = await cli([], env);
      expect(first).toMatchObject({ code: 0, stderr: "" });
      expect(first.stdout).toBe(
        `migrations applied: ${(await migrationNames()).join(", ")}\n` +
          `role ${app} created with its grants; audit events younger than 90 days cannot be purged\n`,
      );
      const again = await cli([], { ...env, AUDIT_RETENTION_DAYS: undefined });
      expect(again).toMatchObject({
        code: 0,
        stdout: `migrations: none pending\nrole ${app} updated with its grants; audit events younger than 36500 days cannot be purged\n`,
      });

      appPool = createPool(appUrl(), { max: 2 });
      expect((await appPool.query("SELECT current_user AS user, min_age_days FROM audit_purge_policy")).rows).toEqual([
        { user: app, min_age_days: 36_500 },
      ]);
      expect(await ensureSchema(appPool, "verify", () => {})).toEqual({ applied: [] });
    });

    it("leaves the origin unable to start in verify mode when a migration is pending, and unable to apply it", async () => {
      const pool = appPool ?? createPool(appUrl(), { max: 2 });
      appPool = pool;
      const last = (await migrationNames()).at(-1) as string;
      // The owner's side: the record of the newest migration gone, as if this release brought it.
      await db.pool.query(`DELETE FROM ${MIGRATIONS_TABLE} WHERE name = $1`, [last]);
      try {
        await expect(ensureSchema(pool, "verify", () => {})).rejects.toThrow(
          `migration ${last} has not been applied, and this origin does not migrate (databaseMigrate "verify"`,
        );
        // Migrating at start is no way out for this role: it holds no DDL rights.
        await expect(migrate(pool)).rejects.toThrow(/^database migration failed: .*permission denied|must be owner/);
      } finally {
        await db.pool.query(`INSERT INTO ${MIGRATIONS_TABLE} (name, run_on) VALUES ($1, now())`, [last]);
      }
    });
  });
});
