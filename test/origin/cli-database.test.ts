import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDatabaseUrl, DatabaseSetupError, requireOriginSchema } from "../../aws/origin/db/cli-database.ts";
import { MIGRATE_COMMAND } from "../../aws/origin/db/ensure-schema.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { DATABASE_SECRET_ID, refusingEveryVersion } from "./password-checking-postgres.ts";
import { jsonFile, workDir } from "./policy-dry-run-cli.ts";

/**
 * What the operators' commands (`npm run audit`, `npm run upstream-connections`, `npm run pins`, `npm run policy --
 * dry-run`, the migrate command) say about the database they are pointed at: a DATABASE_URL they cannot use, a server
 * they cannot reach, a database without the origin's schema or the tables a command uses. Each says what is wrong and
 * what to do, with exit 1 (2 for migrate, whose environment is its input), and never repeats the URL's password.
 */

const path = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
const AUDIT = path("../../aws/origin/audit/cli.ts");
const CONNECTIONS = path("../../aws/origin/vault/cli.ts");
const PINS = path("../../aws/origin/pinning/cli.ts");
const POLICY = path("../../aws/origin/policy/cli.ts");
const MIGRATE = path("../../aws/origin/db/migrate-cli.ts");

// The commands run in a directory of their own: the dry run reads no proxy.config.json of the repository for the
// current policy. The candidate names its servers, so that nothing is said before the database is reached.
const dir = workDir();
const candidate = jsonFile(dir, "candidate.json", {
  origin: {
    servers: { docs: { transport: "stdio", command: "docs-mcp" } },
    policy: { rules: [{ effect: "allow", who: { everyone: true }, servers: ["docs"] }] },
  },
});
const BY = ["--by", "admin@example.com"];

/** Every command that reads the origin's database, as an operator types it: its program's name first. */
const COMMANDS: [string, string, string[]][] = [
  ["audit search", AUDIT, ["search"]],
  ["audit purge", AUDIT, ["purge", "--older-than-days", "400"]],
  ["audit verify", AUDIT, ["verify"]],
  ["upstream-connections list", CONNECTIONS, ["list"]],
  ["upstream-connections revoke", CONNECTIONS, ["revoke", "--user", "ana@example.com", ...BY]],
  ["pins pending", PINS, ["pending"]],
  ["pins diff", PINS, ["diff", "docs", "tool", "search"]],
  ["pins approve", PINS, ["approve", "docs", "tool", "search", ...BY]],
  ["pins reject", PINS, ["reject", "docs", "tool", "search", ...BY]],
  ["policy dry-run", POLICY, ["dry-run", "--candidate", candidate]],
];

/** The start of what a command says: its program's name (the first word of its name in COMMANDS). */
const said = (name: string, message: string) => new RegExp(`^${name.split(" ")[0]}: ${message}`);

const PASSWORD = "s3cret-Passw0rd";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cli: string, args: string[], env: Record<string, string | undefined>): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["DATABASE_URL", "PGHOST", "PGPORT", "DATABASE_APP_PASSWORD", "MCP_POLICY", "MCP_PROXY_CONFIG"]) {
    delete childEnv[name];
  }
  for (const [name, value] of Object.entries(env)) if (value !== undefined) childEnv[name] = value;
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: childEnv, cwd: dir }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const STACK_TRACE = /^\s+at |\bERR_[A-Z_]+\b|TypeError|Node\.js v\d/m;

describe("checkDatabaseUrl", () => {
  const problem = (url: string | undefined) => {
    try {
      checkDatabaseUrl(url, {});
    } catch (error) {
      expect(error).toBeInstanceOf(DatabaseSetupError);
      return (error as Error).message;
    }
    return undefined;
  };

  it("refuses a URL without its postgres:// scheme (pg would connect to localhost:5432, or to a host named base)", () => {
    for (const url of [`admin:${PASSWORD}@127.0.0.1:40300/ux3`, `postgresql//admin:${PASSWORD}@db/x`, "mysql://db/x"]) {
      const message = problem(url);
      expect(message).toMatch(/^DATABASE_URL is not a postgresql:\/\/ URL: it must start with postgres:\/\/ or postgresql:\/\//);
      expect(message).not.toContain(PASSWORD);
      expect(message).not.toContain("admin");
    }
  });

  it("refuses a password with an unencoded special character, saying to percent-encode it", () => {
    // With "#…" as the password, the rest still parses: the user name would become the host.
    for (const url of [`postgres://admin:pw#${PASSWORD}@db:5432/x`, `postgres://admin:#${PASSWORD}@db/x`]) {
      const message = problem(url);
      expect(message).toMatch(/^DATABASE_URL is not a valid URL: .*percent-encode special characters such as # in the password/);
      expect(message).not.toContain(PASSWORD);
    }
    for (const url of [
      `postgres://admin:pw/${PASSWORD}@db:5432/x`,
      `postgres://admin:pw?${PASSWORD}@db/x`,
      "postgres://db:port/x",
    ]) {
      const message = problem(url);
      expect(message).toMatch(/^DATABASE_URL is not a valid URL: percent-encode special characters such as #, \/, \? or @/);
      expect(message).not.toContain(PASSWORD);
    }
  });

  it("says that DATABASE_URL is not set", () => {
    expect(problem(undefined)).toMatch(/^DATABASE_URL is not set: set it to the origin's database/);
    expect(problem("")).toMatch(/^DATABASE_URL is not set/);
  });

  it("accepts what pg accepts: a host left to PGHOST (postgresql:// alone, as on AWS), an encoded password, TLS options", () => {
    expect(checkDatabaseUrl("postgresql://", { PGHOST: "db.internal" })).toMatchObject({
      hostFrom: "named by PGHOST, as DATABASE_URL names no host",
    });
    expect(checkDatabaseUrl(`postgres://admin:pw%23${PASSWORD}@db.example:6543/x?sslmode=verify-full`, {})).toMatchObject({
      host: "db.example",
      port: 6543,
      hostFrom: "named by DATABASE_URL",
    });
    expect(problem("postgres://admin:pw@/x")).toBeUndefined();
    expect(problem("POSTGRES://db/x")).toBeUndefined();
  });
});

describe("the commands, given a DATABASE_URL they cannot use or a server they cannot reach", () => {
  it.each(COMMANDS)("%s says what is wrong with DATABASE_URL, exit 1, never the URL", async (name, cli, args) => {
    // All three at once: each is refused before any connection is tried.
    const [unset, ...bad] = await Promise.all(
      [undefined, `admin:${PASSWORD}@127.0.0.1:1/ux3`, `postgres://admin:#${PASSWORD}@127.0.0.1:1/x`].map((url) =>
        run(cli, args, { DATABASE_URL: url }),
      ),
    );
    expect(unset).toMatchObject({ code: 1, stdout: "" });
    expect(unset?.stderr).toMatch(said(name, "DATABASE_URL is not set: set it to the origin's database"));
    for (const result of bad) {
      expect(result).toMatchObject({ code: 1, stdout: "" });
      expect(result.stderr).toMatch(said(name, "DATABASE_URL is not a (postgresql://|valid) URL: "));
      expect(result.stderr).not.toContain(PASSWORD);
      expect(result.stderr).not.toContain("admin");
      expect(result.stderr).not.toMatch(STACK_TRACE);
    }
  });

  it.each(COMMANDS)("%s names the host and port of a database it cannot reach, never the password", async (name, cli, args) => {
    const result = await run(cli, args, { DATABASE_URL: `postgres://admin:${PASSWORD}@127.0.0.1:1/x` });
    expect(result).toMatchObject({ code: 1, stdout: "" });
    expect(result.stderr).toMatch(
      said(
        name,
        "failed: cannot connect to the database at 127\\.0\\.0\\.1:1 \\(named by DATABASE_URL\\): connection refused: check the host and port in DATABASE_URL",
      ),
    );
    expect(result.stderr).not.toContain(PASSWORD);
    expect(result.stderr).not.toMatch(STACK_TRACE);
  });

  it("names the setting that named the host of a refused connection: PGHOST when DATABASE_URL names none", async () => {
    const fromEnv = await run(CONNECTIONS, ["list"], { DATABASE_URL: "postgresql://", PGHOST: "127.0.0.1", PGPORT: "1" });
    expect(fromEnv.stderr).toMatch(
      /^upstream-connections: failed: cannot connect to the database at 127\.0\.0\.1:1 \(named by PGHOST, as DATABASE_URL names no host\): connection refused: check the host and port in DATABASE_URL \(or PGHOST and PGPORT\)/,
    );
  });

  // In the origin's container on AWS the commands have no PGPASSWORD: they read the secret as the origin does.
  it("with DATABASE_PASSWORD_SECRET, logs in with the secret's versions and names the secret when all are refused", async () => {
    const { server, awsEnv, close } = await refusingEveryVersion();
    try {
      const result = await run(CONNECTIONS, ["list"], {
        DATABASE_URL: `postgresql://origin@127.0.0.1:${server.port}/mcp`,
        DATABASE_PASSWORD_SECRET: DATABASE_SECRET_ID,
        ...awsEnv,
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        'refused the login: password authentication failed for user "u": check the user name in DATABASE_URL (or PGUSER) and the password in Secrets Manager\'s proxy/database-app',
      );
      expect(result.stderr).not.toMatch(/current-pw|previous-pw/);
      expect(server.attempts).toEqual(["current-pw", "previous-pw"]);
    } finally {
      await close();
    }
  });

  it("migrate refuses a DATABASE_URL it cannot use with exit 2, and names a refused connection's host and port", async () => {
    const bad = await run(MIGRATE, ["--migrations-only"], { DATABASE_URL: `admin:${PASSWORD}@127.0.0.1:1/ux3` });
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/^migrate: DATABASE_URL is not a postgresql:\/\/ URL/) });
    expect(bad.stderr).not.toContain(PASSWORD);
    const refused = await run(MIGRATE, ["--migrations-only"], { DATABASE_URL: `postgres://admin:${PASSWORD}@127.0.0.1:1/x` });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^migrate: failed: cannot connect to the database at 127\.0\.0\.1:1 \(named by DATABASE_URL\)/,
    );
    expect(refused.stderr).not.toContain(PASSWORD);
  });
});

describe("a database without the origin's schema", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await withTestDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it.each(COMMANDS)("%s refuses a database never migrated, naming the migrate command, exit 1", async (name, cli, args) => {
    const result = await run(cli, args, { DATABASE_URL: db.url });
    expect(result).toMatchObject({ code: 1, stdout: "" });
    expect(result.stderr).toMatch(
      said(
        name,
        "this database has no origin schema \\(no [a-z_]+ table, no migrations recorded\\): is DATABASE_URL the origin's database",
      ),
    );
    expect(result.stderr).toContain(MIGRATE_COMMAND);
    expect(result.stderr).not.toContain("does not exist");
  });

  it("tells an unmigrated database from one whose schema is older than the command", async () => {
    await expect(requireOriginSchema(db.pool, ["audit_events"])).rejects.toThrow(/^this database has no origin schema/);
    await migrate(db.pool);
    await requireOriginSchema(db.pool, ["audit_events", "upstream_tokens"]);
    await expect(requireOriginSchema(db.pool, ["audit_events", "audit_from_the_future"])).rejects.toThrow(
      new RegExp(
        `^this database's origin schema has no audit_from_the_future table: it is older than this release: apply the migrations with \`${MIGRATE_COMMAND}\``,
      ),
    );
  });

  it("checks the tables each command uses: a decision's audit chain, the dry run's approved definitions", async () => {
    await migrate(db.pool);
    await db.pool.query("DROP TABLE audit_chains CASCADE");
    // Reviewing reads the pins alone; a decision is audited into the hash chain, so it is refused before it starts.
    expect(await run(PINS, ["pending"], { DATABASE_URL: db.url })).toMatchObject({
      code: 0,
      stdout: "nothing waits for a decision\n",
    });
    for (const decision of ["approve", "reject"]) {
      const refused = await run(PINS, [decision, "docs", "tool", "search", ...BY], { DATABASE_URL: db.url });
      expect(refused).toMatchObject({ code: 1, stdout: "" });
      expect(refused.stderr).toMatch(
        /^pins: this database's origin schema has no audit_chains table: it is older than this release: apply the migrations with /,
      );
    }
    expect((await run(POLICY, ["dry-run", "--candidate", candidate], { DATABASE_URL: db.url })).code).toBe(0);
    await db.pool.query("DROP TABLE pinned_definitions CASCADE");
    const policy = await run(POLICY, ["dry-run", "--candidate", candidate], { DATABASE_URL: db.url });
    expect(policy).toMatchObject({ code: 1, stdout: "" });
    expect(policy.stderr).toMatch(/^policy: this database's origin schema has no pinned_definitions table: it is older/);
  });
});
