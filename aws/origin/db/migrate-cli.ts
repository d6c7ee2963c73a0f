import type { ParseArgsOptionsConfig } from "node:util";
import { parseCommandLine, reportUsageError, UsageError } from "../cli/usage-error.ts";
import { checkDatabaseUrl, DatabaseSetupError, type DatabaseTarget, describeDatabaseError } from "./cli-database.ts";
import { migrate } from "./migrate.ts";
import { createPool } from "./pool.ts";
import { DEFAULT_APP_ROLE, ensureAppRole, KEEP_FOREVER_DAYS } from "./roles.ts";

/**
 * `node aws/origin/db/migrate-cli.ts`: applies the migrations as the schema's owner, then makes sure the origin's own
 * role exists with exactly its grants (aws/origin/db/roles.ts). On AWS the task's `migrate` init container runs it
 * with the RDS master secret before the origin container starts (which it does only when this exits 0). Messages go
 * to stdout, problems to stderr. Exit codes: 0 done, 1 failed (the database refused or is unreachable), 2 bad
 * arguments or environment.
 */

const USAGE = `usage: node aws/origin/db/migrate-cli.ts [--migrations-only]
Applies the database migrations, then creates or updates the origin's role and its grants. As the schema's owner:
  DATABASE_URL           the owner's connection (postgres://owner:password@host:5432/name, or postgresql:// and PG*)
  DATABASE_APP_USER      the origin's role (default ${DEFAULT_APP_ROLE})
  DATABASE_APP_PASSWORD  its password: the origin's database secret (not needed with --migrations-only)
  AUDIT_RETENTION_DAYS   the origin's audit.retentionDays: the youngest events the origin may purge
                         (unset: ${KEEP_FOREVER_DAYS} days, so that it purges nothing)
--migrations-only applies the migrations and leaves roles and grants alone.`;

const OPTIONS: ParseArgsOptionsConfig = {
  "migrations-only": { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
};

export interface MigrateCommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** The command, without the process around it: returns the exit code. */
export async function migrateCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: MigrateCommandIo = { out: console.log, err: console.error },
): Promise<number> {
  let plan: ReturnType<typeof readPlan>;
  try {
    plan = readPlan(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return reportUsageError("migrate", USAGE, error, io.err);
  }
  if (plan === "help") {
    io.out(USAGE);
    return 0;
  }
  // One connection: the steps run one after the other (and the embedded database takes no more). No statement
  // timeout: a migration, or the wait for another task's migration lock, may take minutes.
  const pool = createPool(plan.database.url, { max: 1, statementTimeoutMs: 0 });
  try {
    const { applied } = await migrate(pool);
    io.out(applied.length > 0 ? `migrations applied: ${applied.join(", ")}` : "migrations: none pending");
    if (plan.appRole) {
      const { role, password, minPurgeAgeDays } = plan.appRole;
      const { created, warnings } = await ensureAppRole(pool, { role, password, minPurgeAgeDays });
      for (const warning of warnings) io.err(`migrate: warning: ${warning}`);
      io.out(
        `role ${role} ${created ? "created" : "updated"} with its grants; audit events younger than ${minPurgeAgeDays} days cannot be purged`,
      );
    }
    return 0;
  } catch (error) {
    io.err(`migrate: failed: ${(describeDatabaseError(error, plan.database) as Error).message}`);
    return 1;
  } finally {
    await pool.end();
  }
}

function readPlan(
  argv: string[],
  env: NodeJS.ProcessEnv,
): "help" | { database: DatabaseTarget; appRole?: { role: string; password: string; minPurgeAgeDays: number } } {
  const { values } = parseCommandLine({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  if (values.help === true) return "help";
  if (!env.DATABASE_URL) throw new UsageError("DATABASE_URL is not set: set it to the schema owner's connection");
  let database: DatabaseTarget;
  try {
    database = checkDatabaseUrl(env.DATABASE_URL, env);
  } catch (error) {
    throw error instanceof DatabaseSetupError ? new UsageError(error.message) : error;
  }
  if (values["migrations-only"] === true) return { database };
  const password = env.DATABASE_APP_PASSWORD;
  if (!password) throw new UsageError("DATABASE_APP_PASSWORD is not set (or use --migrations-only)");
  const role = env.DATABASE_APP_USER || DEFAULT_APP_ROLE;
  const retention = env.AUDIT_RETENTION_DAYS;
  const minPurgeAgeDays = retention === undefined || retention === "" ? KEEP_FOREVER_DAYS : Number(retention);
  if (!/^\d*$/.test(retention ?? "") || !Number.isSafeInteger(minPurgeAgeDays) || minPurgeAgeDays < 1) {
    throw new UsageError(`AUDIT_RETENTION_DAYS: expected a whole number of days, at least 1; got "${retention}"`);
  }
  return { database, appRole: { role, password, minPurgeAgeDays: Math.min(minPurgeAgeDays, KEEP_FOREVER_DAYS) } };
}

// Run as a program (not when a test imports the command).
if (import.meta.main) process.exitCode = await migrateCommand(process.argv.slice(2), process.env);
