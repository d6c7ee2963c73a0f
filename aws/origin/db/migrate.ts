import { fileURLToPath } from "node:url";
import { PG_MIGRATE_LOCK_ID, runner } from "node-pg-migrate";
import type pg from "pg";
import { createPool } from "./pool.ts";

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

/**
 * Brings the database schema up to date and returns the names of the migrations it applied, in
 * order (none when it was already current). It is safe to run from every origin task at start:
 * they take a session advisory lock in turn (waiting, not failing), and each one reads what has
 * run only once it holds the lock. All pending migrations run in one transaction, so a failure
 * leaves the schema as it was. It writes nothing to the console; a failure is thrown.
 *
 * Against the embedded database (PGlite) the lock excludes nothing, because all connections share
 * one backend there (see local/embedded-postgres.ts); only one origin uses that database.
 */
export async function migrate(database: pg.Pool | string): Promise<{ applied: string[] }> {
  if (typeof database === "string") {
    const pool = createPool(database, { max: 1 });
    try {
      return await migrate(pool);
    } finally {
      await pool.end();
    }
  }

  const client = await database.connect();
  const messages: string[] = [];
  const keep = (message: string) => void messages.push(message);
  let broken: Error | undefined;
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
    broken = error instanceof Error ? error : new Error(String(error));
    const details = messages.length > 0 ? `\n${messages.join("\n")}` : "";
    throw new Error(`database migration failed: ${broken.message}${details}`, { cause: error });
  } finally {
    client.release(broken);
  }
}
