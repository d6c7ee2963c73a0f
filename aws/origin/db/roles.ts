import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { MIGRATION_LOCK_ID } from "./migrate.ts";
import { createPool } from "./pool.ts";
import { inTransaction } from "./transaction.ts";

/**
 * Least privilege for the running origin (docs/deploy.md, "Database roles"). The schema belongs to its owner (on AWS
 * the RDS master user), who runs the migrations; the origin logs in as a role of its own that may do exactly what the
 * origin's code does at run time: no DDL, owner of nothing, and on the audit trail INSERT and SELECT only. Retention
 * deletes old audit events through two SECURITY DEFINER functions (migration 0011) that refuse anything younger than a
 * minimum age the owner sets.
 */

/** The origin's role when none is named (DATABASE_APP_USER). The RDS master user is `mcp_origin`: the owner. */
export const DEFAULT_APP_ROLE = "mcp_origin_app";

/** The schema the migrations create their tables in (node-pg-migrate's, and the first of PostgreSQL's search path). */
export const APP_SCHEMA = "public";

/**
 * What the origin's role may do, by table (or sequence) of {@link APP_SCHEMA}: every relation there, each named once,
 * privileges as GRANT spells them (`UPDATE (a, b)` grants those columns only). An empty list grants nothing, on purpose.
 * A migration that adds a table adds it here too: test/origin/db-roles.test.ts fails on a relation missing here, and
 * applying the grants fails on a name here that is not in the schema. The reasons name the code that needs each one.
 * Grants may only widen within a release: every task start regrants the role, so during a rolling deploy the new
 * grants apply to the old tasks at once (and on a rollback the old grants to the new ones). A grant the code no
 * longer uses is dropped a release later, once no task of the release that used it can run.
 */
export const APP_GRANTS: Readonly<Record<string, readonly string[]>> = {
  // audit/chain/append.ts stores events (ON CONFLICT DO NOTHING, which needs no UPDATE); search, export, the ops
  // dashboard, verify and the policy dry run read them. Never UPDATE or DELETE: retention goes through the functions.
  audit_events: ["SELECT", "INSERT"],
  // append.ts locks a chain's row (FOR UPDATE, which needs UPDATE on some column) and moves its head.
  audit_chains: ["SELECT", "UPDATE (seq, hash)"],
  // audit/checkpoint/checkpointer.ts signs heads and records its public key; verify reads both.
  audit_checkpoints: ["SELECT", "INSERT"],
  audit_checkpoint_keys: ["SELECT", "INSERT"],
  // Written only by audit_purge_record (as the owner); verify reads them.
  audit_chain_purges: ["SELECT"],
  // The minimum age of a purged event: the owner's to set; a dry-run purge reads it (audit/retention.ts).
  audit_purge_policy: ["SELECT"],
  // trust/replay-guard.ts claims jtis and nonces and deletes the expired ones.
  assertion_jtis: ["SELECT", "INSERT", "DELETE"],
  // pinning/pin-store.ts records sightings and decides (approve, reject, supersede): never a definition's content.
  pinned_definitions: ["SELECT", "INSERT", "UPDATE (status, decided_at, decided_by, updated_at)"],
  // vault/token-vault.ts: put (an upsert), refresh marks, revoke and forget, list. Never a row's identity or creation time.
  upstream_tokens: [
    "SELECT",
    "INSERT",
    "UPDATE (user_email, wrapped_key, sealed, expires_at, updated_at, refreshing_until)",
    "DELETE",
  ],
  // upstream-auth/pending-authorizations.ts: put, take (DELETE … RETURNING), expire.
  upstream_oauth_pending: ["SELECT", "INSERT", "DELETE"],
  // ensure-schema.ts reads which migrations ran, to refuse a stale schema; node-pg-migrate's own id sequence: nothing.
  pgmigrations: ["SELECT"],
  pgmigrations_id_seq: [],
};

/** Functions of {@link APP_SCHEMA} the origin's role may call (PUBLIC may call none of them), by signature. */
export const APP_FUNCTIONS: readonly string[] = ["audit_purge_record(timestamptz)", "audit_purge_delete(timestamptz, integer)"];

/** The minimum purge age when retention is unset: the schema's maximum, so that nothing can be purged. */
export const KEEP_FOREVER_DAYS = 36_500;

export interface AppRoleOptions {
  /** The role's name (a lowercase SQL identifier). */
  role: string;
  /** Its password (from the app secret): stored as a SCRAM-SHA-256 verifier, so it never reaches a statement log. */
  password: string;
  /** The youngest age, in days, of an audit event the origin may purge: `audit.retentionDays`, or {@link KEEP_FOREVER_DAYS}. */
  minPurgeAgeDays: number;
}

export interface AppRoleResult {
  /** Whether the role was created now (else its password was set again). */
  created: boolean;
  /** What could not be done and why (e.g. a privilege of PUBLIC the owner cannot revoke); the rest was done. */
  warnings: string[];
}

type Client = pg.PoolClient | pg.Client;

/**
 * Creates the origin's role or sets its password, and grants it exactly {@link APP_GRANTS} and {@link APP_FUNCTIONS}
 * (revoking anything else it held in the schema), in one transaction under the migration lock, so that tasks starting
 * together neither race nor see half of it. Idempotent: run it after every migration run (migrate-cli.ts does). Runs
 * as the schema owner, who needs CREATEROLE (the RDS master user has it). Refuses a role that could do more than its
 * grants: a superuser, one with CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, a member of another role, an owner.
 */
export async function ensureAppRole(database: pg.Pool | string, options: AppRoleOptions): Promise<AppRoleResult> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.role)) {
    throw new Error(`the app role's name must be a lowercase SQL identifier (letters, digits, _), got "${options.role}"`);
  }
  if (options.password.length < 16) throw new Error("the app role's password is too short (at least 16 characters)");
  // Sent to the server only as a SCRAM verifier; other characters would need SASLprep first (RFC 4013).
  if (!/^[\x21-\x7e]+$/.test(options.password))
    throw new Error("the app role's password must be printable ASCII without spaces (Secrets Manager's generated ones are)");
  if (!Number.isInteger(options.minPurgeAgeDays) || options.minPurgeAgeDays < 1 || options.minPurgeAgeDays > KEEP_FOREVER_DAYS) {
    throw new Error(`the minimum purge age must be a whole number of days from 1 to ${KEEP_FOREVER_DAYS}`);
  }
  const pool = typeof database === "string" ? createPool(database, { max: 1 }) : database;
  try {
    return await inTransaction(pool, (client) => applyRole(client, options));
  } finally {
    if (typeof database === "string") await pool.end();
  }
}

async function applyRole(client: Client, options: AppRoleOptions): Promise<AppRoleResult> {
  const role = pg.escapeIdentifier(options.role);
  const schema = pg.escapeIdentifier(APP_SCHEMA);
  const warnings: string[] = [];
  await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_ID]);

  const existing = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [options.role]);
  const created = existing.rowCount === 0;
  const password = passwordClause(options.password);
  await client.query(
    created ? `CREATE ROLE ${role} LOGIN PASSWORD ${password}` : `ALTER ROLE ${role} LOGIN PASSWORD ${password}`,
  );
  await refusePowerfulRole(client, options.role);

  const { rows } = await client.query<{ database: string }>("SELECT current_database() AS database");
  const database = pg.escapeIdentifier(rows[0]?.database as string);
  await client.query(`GRANT CONNECT ON DATABASE ${database} TO ${role}`);
  await client.query(`REVOKE CREATE, TEMPORARY ON DATABASE ${database} FROM ${role}`);
  await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
  await client.query(`REVOKE CREATE ON SCHEMA ${schema} FROM ${role}`);
  // What every role holds through PUBLIC: no temporary tables, no CREATE in the schema (PostgreSQL 15 and later
  // already withhold the latter). Where the owner may not revoke them (an object of another owner), a warning.
  for (const statement of [
    `REVOKE CREATE ON SCHEMA ${schema} FROM PUBLIC`,
    `REVOKE TEMPORARY ON DATABASE ${database} FROM PUBLIC`,
  ]) {
    const problem = await tolerated(client, statement);
    if (problem) warnings.push(`${statement}: ${problem}`);
  }

  await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${schema} FROM ${role}`);
  await client.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${schema} FROM ${role}`);
  await client.query(`REVOKE ALL ON ALL ROUTINES IN SCHEMA ${schema} FROM ${role}`);
  const relations = await schemaRelations(client);
  const unknown = Object.keys(APP_GRANTS).filter((name) => !relations.has(name));
  if (unknown.length > 0) {
    throw new Error(`the grants name relations the schema does not have: ${unknown.join(", ")} (is it migrated?)`);
  }
  for (const [name, kind] of relations) {
    const privileges = APP_GRANTS[name];
    if (privileges === undefined) {
      warnings.push(`${APP_SCHEMA}.${name} is not in APP_GRANTS (aws/origin/db/roles.ts): the origin's role gets nothing on it`);
      continue;
    }
    if (privileges.length === 0) continue;
    const object = `${kind === "S" ? "SEQUENCE" : "TABLE"} ${schema}.${pg.escapeIdentifier(name)}`;
    await client.query(`GRANT ${privileges.join(", ")} ON ${object} TO ${role}`);
  }
  for (const signature of APP_FUNCTIONS) {
    await client.query(`REVOKE ALL ON FUNCTION ${schema}.${signature} FROM PUBLIC`);
    await client.query(`GRANT EXECUTE ON FUNCTION ${schema}.${signature} TO ${role}`);
  }

  await client.query(
    `UPDATE ${schema}.audit_purge_policy SET min_age_days = $1, updated_at = now() WHERE min_age_days IS DISTINCT FROM $1`,
    [options.minPurgeAgeDays],
  );
  return { created, warnings };
}

/** The tables, views and sequences of the schema, by name, with their pg_class relkind. */
async function schemaRelations(client: Client): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; kind: string }>(
    `SELECT c.relname AS name, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') ORDER BY c.relname`,
    [APP_SCHEMA],
  );
  return new Map(rows.map((row) => [row.name, row.kind]));
}

/** Runs one statement that may be refused; the refusal's message, rolled back to before it, or undefined. */
async function tolerated(client: Client, statement: string): Promise<string | undefined> {
  await client.query("SAVEPOINT tolerated");
  try {
    await client.query(statement);
    await client.query("RELEASE SAVEPOINT tolerated");
    return undefined;
  } catch (error) {
    await client.query("ROLLBACK TO SAVEPOINT tolerated");
    return (error as Error).message;
  }
}

/** A role that could do more than its grants is not made safe silently: the owner is told what to remove by hand. */
async function refusePowerfulRole(client: Client, name: string): Promise<void> {
  const { rows } = await client.query<Record<string, boolean>>(
    `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1`,
    [name],
  );
  const attributes = Object.entries(rows[0] ?? {})
    .filter(([, set]) => set)
    .map(([attribute]) => attribute.replace(/^rol/, "").toUpperCase());
  const memberOf = await client.query<{ name: string }>(
    `SELECT r.rolname AS name FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
     WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
    [name],
  );
  const owns = await client.query<{ what: string }>(
    `SELECT 'relation ' || relname AS what FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = $1)
     UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proowner = (SELECT oid FROM pg_roles WHERE rolname = $1)
     UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = $1)
     UNION ALL SELECT 'database ' || datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
    [name],
  );
  const problems = [
    ...attributes.map((attribute) => `it has ${attribute}`),
    ...memberOf.rows.map((row) => `it is a member of ${row.name}`),
    ...owns.rows.map((row) => `it owns ${row.what}`),
  ];
  if (problems.length > 0) {
    throw new Error(
      `the app role ${name} may do more than its grants (${problems.join("; ")}): remove that by hand, as the owner`,
    );
  }
}

/** The password as ALTER ROLE takes it: a SCRAM-SHA-256 verifier, stored as it is (a statement log shows only that). */
function passwordClause(password: string): string {
  return pg.escapeLiteral(scramSha256Verifier(password));
}

/** PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802, RFC 7677): `SCRAM-SHA-256$<i>:<salt>$<stored key>:<server key>`. */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
