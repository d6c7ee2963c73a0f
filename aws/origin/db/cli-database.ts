import type pg from "pg";
import ConnectionParameters from "pg/lib/connection-parameters";
import { passwordFromSecret } from "../secrets/aws/database-password.ts";
import { MIGRATE_COMMAND } from "./ensure-schema.ts";
import { MIGRATIONS_TABLE } from "./migrate.ts";
import { createPool } from "./pool.ts";

/*
 * The database side of the operators' command line tools (`npm run audit`, `npm run upstream-connections`, the
 * migrate command), and of the origin's own start: DATABASE_URL is checked before any connection, a connection that fails names where it went, and a
 * database without the origin's schema is refused before a command's first query fails on a missing table. What goes
 * wrong is said without ever repeating DATABASE_URL: it holds a password.
 */

/** Something the operator must fix in the environment or in the database: the message says what and how. */
export class DatabaseSetupError extends Error {
  override name = "DatabaseSetupError";
}

const EXAMPLE_URL = "postgres://user:password@host:5432/name";

/** Where the connections of a checked DATABASE_URL go, as `pg` reads it, and which setting named the host. */
export interface DatabaseTarget {
  url: string;
  host: string;
  port: number;
  /** What named the host: DATABASE_URL, PGHOST, or nothing (pg's default), as a message says it. */
  hostFrom: string;
  /** The settings to correct when the host or port is wrong. */
  settings: string;
  /** Where the password comes from when not from DATABASE_URL or PGPASSWORD (a secret read at each connection). */
  passwordFrom?: string;
}

/**
 * Checks DATABASE_URL as the commands need it: set, a postgres:// or postgresql:// URL that `pg` can read. Throws a
 * {@link DatabaseSetupError} saying what is wrong (never the URL itself). The host and port may be left to PGHOST and
 * PGPORT (`postgresql://` alone is what the AWS tasks use), as `pg` allows.
 */
export function checkDatabaseUrl(url: string | undefined, env: NodeJS.ProcessEnv = process.env): DatabaseTarget {
  if (!url) throw new DatabaseSetupError(`DATABASE_URL is not set: set it to the origin's database, e.g. ${EXAMPLE_URL}`);
  // Anything else, pg reads as a path relative to postgres://base (connecting to a host named "base"), or takes the
  // user name for a URL scheme and quietly connects to its default, localhost:5432.
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new DatabaseSetupError(
      `DATABASE_URL is not a postgresql:// URL: it must start with postgres:// or postgresql://, e.g. ${EXAMPLE_URL}`,
    );
  }
  // A # ends a URL: what follows is dropped, and what is left may still parse, naming another host (with a password
  // of "#…", the user name becomes the host).
  if (url.includes("#")) {
    throw new DatabaseSetupError(
      "DATABASE_URL is not a valid URL: it contains a #, which ends a URL: percent-encode special characters such as # in the password (# as %23)",
    );
  }
  let parameters: ConnectionParameters;
  try {
    // pg's own reading of it (pg-connection-string, then PGHOST, PGPORT and its defaults), so that what passes here is
    // what it connects to.
    parameters = new ConnectionParameters(url);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_INVALID_URL") {
      throw new DatabaseSetupError(
        "DATABASE_URL is not a valid URL: percent-encode special characters such as #, /, ? or @ in the user name and password (# as %23, / as %2F, ? as %3F, @ as %40), and check that the port is a number",
      );
    }
    // A file it names (sslrootcert, sslcert, sslkey) that cannot be read: pg's message names the file, not the URL.
    throw new DatabaseSetupError(`DATABASE_URL cannot be used: ${(error as Error).message}`);
  }
  const inUrl = urlNamesHost(url);
  return {
    url,
    host: parameters.host ?? "localhost",
    port: parameters.port ?? 5432,
    hostFrom: inUrl
      ? "named by DATABASE_URL"
      : env.PGHOST
        ? "named by PGHOST, as DATABASE_URL names no host"
        : "pg's default: neither DATABASE_URL nor PGHOST names a host",
    settings: inUrl ? "DATABASE_URL" : "DATABASE_URL (or PGHOST and PGPORT)",
  };
}

function urlNamesHost(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.hostname !== "" || parsed.searchParams.has("host");
  } catch {
    // user:password@/name: pg reads it with an empty host (WHATWG URL refuses it).
    return /[?&]host=/.test(url);
  }
}

/** Network errors of a connection that never opened, and how to say them. */
const CANNOT_CONNECT: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "the host name could not be resolved (DNS did not answer)",
  ETIMEDOUT: "no answer",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
};

/** SQLSTATEs of a login refused: invalid_password, invalid_authorization_specification. */
const LOGIN_REFUSED = new Set(["28P01", "28000"]);

/**
 * The error to report for one a command met: a connection that could not be opened becomes a message naming the
 * host and port it went to, and where they came from (never the password); any other error is returned as it is.
 */
export function describeDatabaseError(error: unknown, target: DatabaseTarget): unknown {
  const code = (error as { code?: unknown })?.code;
  const message = String((error as Error)?.message ?? error);
  const reason =
    typeof code === "string" && code in CANNOT_CONNECT
      ? CANNOT_CONNECT[code]
      : /timeout exceeded when trying to connect/i.test(message)
        ? "no answer in time"
        : undefined;
  const where = `the database at ${target.host}:${target.port} (${target.hostFrom})`;
  if (reason) {
    return new Error(
      `cannot connect to ${where}: ${reason}: check the host and port in ${target.settings}, and that PostgreSQL runs there and accepts connections from this machine`,
      { cause: error },
    );
  }
  if (typeof code === "string" && LOGIN_REFUSED.has(code)) {
    const login = target.passwordFrom
      ? `the user name in DATABASE_URL (or PGUSER) and the password in ${target.passwordFrom}`
      : "the user name and password in DATABASE_URL";
    return new Error(`${where} refused the login: ${message}: check ${login}`, { cause: error });
  }
  return error;
}

/**
 * Refuses a database that lacks a table a command uses, before the command's own queries fail with `relation … does
 * not exist`: with no origin table and no migration record, the wrong database (or one never migrated); with some,
 * a schema older than this release. Reads the catalog only, so any role that can connect may ask.
 */
export async function requireOriginSchema(db: pg.Pool | pg.PoolClient, tables: readonly string[]): Promise<void> {
  const { rows } = await db.query<{ name: string; present: boolean }>(
    "SELECT name, to_regclass(name) IS NOT NULL AS present FROM unnest($1::text[]) AS names(name)",
    [[`public.${MIGRATIONS_TABLE}`, ...tables]],
  );
  const present = new Set(rows.filter((row) => row.present).map((row) => row.name));
  const missing = tables.filter((table) => !present.has(table));
  if (missing.length === 0) return;
  const migrate = `\`${MIGRATE_COMMAND}\` with DATABASE_URL set to the schema owner's connection (docs/deploy.md, "Database roles")`;
  if (missing.length === tables.length && !present.has(`public.${MIGRATIONS_TABLE}`)) {
    throw new DatabaseSetupError(
      `this database has no origin schema (no ${missing[0]} table, no migrations recorded): is DATABASE_URL the origin's database (wrong database name or host)? ` +
        `If it is and the schema was never created, the origin creates it when it starts (databaseMigrate "at-start"), or run ${migrate}`,
    );
  }
  throw new DatabaseSetupError(
    `this database's origin schema has no ${missing.join(", ")} table${missing.length > 1 ? "s" : ""}: it is older than this release: apply the migrations with ${migrate}`,
  );
}

/**
 * Runs a command on DATABASE_URL (checked first, see {@link checkDatabaseUrl}) once the database has the `tables` it
 * uses, on one connection (the commands are sequential, and the embedded database takes no more per client), and
 * ends the pool after. Throws {@link DatabaseSetupError} for what the operator must fix, and a connection failure
 * described by {@link describeDatabaseError}.
 */
export async function withCliDatabase<T>(tables: readonly string[], run: (pool: pg.Pool) => Promise<T>): Promise<T> {
  // In the origin's container on AWS the password is read from its secret, as the origin reads it.
  const secretId = process.env.DATABASE_PASSWORD_SECRET;
  const secret = secretId ? passwordFromSecret(secretId) : undefined;
  const target = { ...checkDatabaseUrl(process.env.DATABASE_URL), passwordFrom: secret?.from };
  // No statement bound: an operator's command (a verify or an export of a large table) runs as long as it needs, and
  // Ctrl-C ends it.
  const pool = createPool(target.url, { max: 1, statementTimeoutMs: 0, password: secret?.password });
  try {
    await requireOriginSchema(pool, tables);
    return await run(pool);
  } catch (error) {
    throw describeDatabaseError(error, target);
  } finally {
    await pool.end();
  }
}
