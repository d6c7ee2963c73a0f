import { readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { PG_MIGRATE_LOCK_ID, runner } from "node-pg-migrate";
import type pg from "pg";
import { createPool } from "./pool.ts";
import type { RotatingPassword } from "./rotating-password.ts";
import { withConnection } from "./with-connection.ts";

/** The versioned schema: plain `.sql` files named `NNNN_what.sql`, applied in number order. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations", import.meta.url));

/** Where node-pg-migrate records what ran (its default, so its CLI can be pointed at the same database). */
export const MIGRATIONS_TABLE = "pgmigrations";

/**
 * The advisory lock held while migrating: node-pg-migrate's well-known one, so that a migration
 * started by hand with its CLI waits for (and is waited for by) the origin's.
 */
export const MIGRATION_LOCK_ID = PG_MIGRATE_LOCK_ID;

// Anchored by node-pg-migrate as ^…$: ignore dotfiles and anything that is not a .sql file, which it
// would otherwise try to load as a JavaScript migration.
const IGNORE_NOT_SQL = String.raw`(?:\..*|(?!.*\.sql$).*)`;

/** The migrations this code knows, by name (the file name without `.sql`), in the order they apply. */
export async function migrationNames(): Promise<string[]> {
  return (await readdir(MIGRATIONS_DIR))
    .filter((file) => file.endsWith(".sql") && !file.startsWith("."))
    .sort()
    .map((file) => file.slice(0, -".sql".length));
}

/**
 * Which of this code's migrations the database has not recorded as run (in order), and which recorded ones this code
 * does not know (a newer release ran them). Reads only: no lock, no DDL, so a role without DDL rights may ask
 * (it needs SELECT on the migrations table; a database without that table has run nothing).
 */
export async function migrationStatus(db: pg.Pool | pg.PoolClient): Promise<{ pending: string[]; unknown: string[] }> {
  const known = await migrationNames();
  const table = `public.${MIGRATIONS_TABLE}`;
  const { rows } = await db.query<{ present: boolean }>("SELECT to_regclass($1) IS NOT NULL AS present", [table]);
  const run = rows[0]?.present ? (await db.query<{ name: string }>(`SELECT name FROM ${table}`)).rows.map((row) => row.name) : [];
  const ran = new Set(run);
  return { pending: known.filter((name) => !ran.has(name)), unknown: run.filter((name) => !known.includes(name)) };
}

/**
 * Brings the database schema up to date and returns the names of the migrations it applied, in
 * order (none when it was already current). It is safe to run from every origin task at start:
 * they take a session advisory lock in turn (waiting, not failing), and each one reads what has
 * run only once it holds the lock. All pending migrations run in one transaction, so a failure
 * leaves the schema as it was. It writes nothing to the console; a failure is thrown.
 *
 * When nothing is pending it returns before taking the lock, having only read the migrations table: a role without
 * DDL rights (the origin's own role, roles.ts) then starts on a schema its owner migrated. node-pg-migrate itself
 * would not (with nothing to run it still checks its table's primary key, which it adds when it cannot see it).
 *
 * Given a URL, it runs on a connection of its own without a statement timeout: a migration (an index built on a
 * large table) and the wait for another task's lock may take minutes. Given a pool, it runs within the pool's bounds.
 *
 * Against the embedded database (PGlite) the lock excludes nothing, because all connections share
 * one backend there (see local/embedded-postgres.ts); only one origin uses that database.
 */
export async function migrate(
  database: pg.Pool | string,
  options: { password?: RotatingPassword } = {},
): Promise<{ applied: string[] }> {
  if (typeof database === "string") {
    const pool = createPool(database, { max: 1, statementTimeoutMs: 0, password: options.password });
    try {
      return await migrate(pool);
    } finally {
      await pool.end();
    }
  }

  const current = await migrationStatus(database).then(
    ({ pending }) => pending.length === 0,
    () => false, // e.g. no SELECT on the table: let the runner say what is wrong
  );
  if (current) return { applied: [] };

  return withConnection(database, async (client, broken) => {
    const messages: string[] = [];
    const keep = (message: string) => void messages.push(message);
    try {
      const ran = await runner({
        dbClient: client,
        dir: MIGRATIONS_DIR,
        ignorePattern: IGNORE_NOT_SQL,
        migrationsTable: MIGRATIONS_TABLE,
        direction: "up",
        checkOrder: true,
        singleTransaction: true,
        lockValue: MIGRATION_LOCK_ID,
        advisoryLockMode: "wait",
        logger: { info: () => {}, warn: keep, error: keep },
      });
      return { applied: ran.map((migration) => migration.name) };
    } catch (error) {
      // The connection may still hold the lock or an aborted transaction: do not reuse it.
      const failure = error instanceof Error ? error : new Error(String(error));
      broken(failure);
      const details = messages.length > 0 ? `\n${messages.join("\n")}` : "";
      throw new Error(`database migration failed: ${failure.message}${details}`, { cause: error });
    }
  });
}
