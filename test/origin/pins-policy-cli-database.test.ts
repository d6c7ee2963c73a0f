import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATE_COMMAND } from "../../aws/origin/db/ensure-schema.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { jsonFile, workDir } from "./policy-dry-run-cli.ts";

/**
 * What `npm run pins` and `npm run policy -- dry-run` say about the database they are pointed at, as the other
 * operators' commands do (cli-database.test.ts): a DATABASE_URL they cannot use, a server they cannot reach, a database
 * without the origin's schema or the tables a command uses. Exit 1 each time, a message saying what to do, and never
 * the URL (it holds a password).
 */

const path = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
const PINS = path("../../aws/origin/pinning/cli.ts");
const POLICY = path("../../aws/origin/policy/cli.ts");

// Its own directory: the dry run reads no proxy.config.json of the repository for the current policy. The candidate
// names its servers, so that nothing is said before the database is reached.
const dir = workDir();
const candidate = jsonFile(dir, "candidate.json", {
  origin: {
    servers: { docs: { transport: "stdio", command: "docs-mcp" } },
    policy: { rules: [{ effect: "allow", who: { everyone: true }, servers: ["docs"] }] },
  },
});

/** Every command that reads the origin's database, as an operator types it. */
const COMMANDS: [string, string, string[]][] = [
  ["pins pending", PINS, ["pending"]],
  ["pins diff", PINS, ["diff", "docs", "tool", "search"]],
  ["pins approve", PINS, ["approve", "docs", "tool", "search", "--by", "admin@example.com"]],
  ["pins reject", PINS, ["reject", "docs", "tool", "search", "--by", "admin@example.com"]],
  ["policy dry-run", POLICY, ["dry-run", "--candidate", candidate]],
];

const PASSWORD = "s3cret-Passw0rd";
const STACK_TRACE = /^\s+at |\bERR_[A-Z_]+\b|TypeError|Node\.js v\d/m;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cli: string, args: string[], env: Record<string, string>): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of ["PGHOST", "PGPORT", "MCP_POLICY", "MCP_PROXY_CONFIG"]) delete childEnv[name];
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: childEnv, cwd: dir }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("pins and policy, given a DATABASE_URL they cannot use or a server they cannot reach", () => {
  it.each(COMMANDS)(
    "%s says DATABASE_URL is unset or not a postgresql:// URL, exit 1, never the URL",
    async (_name, cli, args) => {
      const unset = await run(cli, args, { DATABASE_URL: "" });
      expect(unset).toMatchObject({ code: 1, stdout: "" });
      expect(unset.stderr).toMatch(/^(pins|policy): DATABASE_URL is not set: set it to the origin's database/);
      for (const url of [`admin:${PASSWORD}@127.0.0.1:1/ux3`, `mysql://admin:${PASSWORD}@db.internal/x`]) {
        const result = await run(cli, args, { DATABASE_URL: url });
        expect(result).toMatchObject({ code: 1, stdout: "" });
        expect(result.stderr).toMatch(
          /^(pins|policy): DATABASE_URL is not a postgresql:\/\/ URL: it must start with postgres:\/\/ or postgresql:\/\//,
        );
        expect(result.stderr).not.toContain(url);
        expect(result.stderr).not.toContain(PASSWORD);
        expect(result.stderr).not.toContain("admin");
        expect(result.stderr).not.toMatch(STACK_TRACE);
      }
    },
  );

  it.each(COMMANDS)("%s names the host and port of a database it cannot reach, never the password", async (_name, cli, args) => {
    const result = await run(cli, args, { DATABASE_URL: `postgres://admin:${PASSWORD}@127.0.0.1:1/x` });
    expect(result).toMatchObject({ code: 1, stdout: "" });
    expect(result.stderr).toMatch(
      /^(pins|policy): failed: cannot connect to the database at 127\.0\.0\.1:1 \(named by DATABASE_URL\): connection refused: check the host and port in DATABASE_URL/,
    );
    expect(result.stderr).not.toContain(PASSWORD);
    expect(result.stderr).not.toMatch(STACK_TRACE);
  });
});

describe("pins and policy on a database without the origin's schema", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await withTestDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it.each(COMMANDS)("%s refuses a database never migrated, naming the migrate command, exit 1", async (_name, cli, args) => {
    const result = await run(cli, args, { DATABASE_URL: db.url });
    expect(result).toMatchObject({ code: 1, stdout: "" });
    expect(result.stderr).toMatch(
      /^(pins|policy): this database has no origin schema \(no (pinned_definitions|audit_events) table, no migrations recorded\): is DATABASE_URL the origin's database/,
    );
    expect(result.stderr).toContain(MIGRATE_COMMAND);
    expect(result.stderr).not.toContain("does not exist");
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
      const refused = await run(PINS, [decision, "docs", "tool", "search", "--by", "admin@example.com"], {
        DATABASE_URL: db.url,
      });
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
