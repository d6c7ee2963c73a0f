import type pg from "pg";
import type { OriginConfig } from "../../../contract/config/schema.ts";
import { migrate, migrationStatus } from "./migrate.ts";
import type { RotatingPassword } from "./rotating-password.ts";

/**
 * How the origin treats the schema at start:
 * - `at-start` migrates it (under the migration lock), as `npm start` and a single-role deployment do: the origin then
 *   connects as the schema's owner;
 * - `verify` only checks that every migration it knows has run, and refuses to start otherwise: the origin runs as a
 *   role without DDL rights, and the owner migrates elsewhere (on AWS, the task's `migrate` init container).
 */
export type MigrationMode = OriginConfig["databaseMigrate"];

/** How to apply the migrations by hand, as the refusal says it. */
export const MIGRATE_COMMAND = "node aws/origin/db/migrate-cli.ts";

/** A schema older than the code, with migrating left to someone else: the origin must not start on it. */
export class SchemaNotCurrentError extends Error {
  /** The migrations not applied, in order. */
  readonly pending: string[];

  constructor(pending: string[]) {
    super(
      `the database schema is not current: migration${pending.length > 1 ? "s" : ""} ${pending.join(", ")} ` +
        `${pending.length > 1 ? "have" : "has"} not been applied, and this origin does not migrate ` +
        `(databaseMigrate "verify": its database role has no DDL rights). Apply ` +
        `${pending.length > 1 ? "them" : "it"} as the schema's owner: DATABASE_URL=<owner's URL> ` +
        `DATABASE_APP_PASSWORD=<the origin role's password> ${MIGRATE_COMMAND} ` +
        `(on AWS the task's "migrate" container runs it before the origin starts: read its log stream, migrate/…)`,
    );
    this.name = "SchemaNotCurrentError";
    this.pending = pending;
  }
}

/**
 * Makes sure the schema is the one this code needs before the origin uses it: migrates it (`at-start`), or checks it
 * and throws {@link SchemaNotCurrentError} naming what is missing (`verify`, which reads only the migrations table).
 * Logs the migrations it applied, and in `verify` mode any the database ran that this code does not know (a newer
 * release's, during a rollback: harmless, since migrations only add).
 */
export async function ensureSchema(
  db: pg.Pool,
  mode: MigrationMode,
  log: (line: string) => void,
  url?: string,
  password?: RotatingPassword,
): Promise<{ applied: string[] }> {
  if (mode === "at-start") {
    // Given the URL, on a connection of its own without the pool's statement bound (an index build takes minutes).
    const { applied } = await migrate(url ?? db, { password });
    if (applied.length > 0) log(`database migrations applied: ${applied.join(", ")}`);
    return { applied };
  }
  const { pending, unknown } = await migrationStatus(db);
  if (pending.length > 0) throw new SchemaNotCurrentError(pending);
  if (unknown.length > 0) log(`database schema is ahead of this release (migrations ${unknown.join(", ")}): starting anyway`);
  return { applied: [] };
}
