import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_APP_USER, DATABASE_NAME, DATABASE_USER } from "../../aws/cdk/data/database.ts";
import { CSV_COLUMNS } from "../../aws/origin/audit/export.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

const CLI = fileURLToPath(new URL("../../aws/origin/audit/cli.ts", import.meta.url));
const DAY = 86_400_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI in a child process (asynchronously: the embedded database answers from this process). */
function cli(args: string[], databaseUrl: string | undefined): Promise<Run> {
  const env = { ...process.env, DATABASE_URL: databaseUrl ?? "" };
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const now = Date.now();
const at = (time: number, fields: Partial<AuditEvent> = {}): AuditEvent => ({
  id: randomUUID(),
  time: new Date(time).toISOString(),
  kind: "mcp.request",
  outcome: "ok",
  latencyMs: 1,
  ...fields,
});

// 2,500 recent events of one user (more than two pages) and three old ones of another.
const recent = Array.from({ length: 2500 }, (_, i) =>
  at(now - DAY + i * 1000, { userEmail: "ada@example.com", server: "github", tool: i === 0 ? "@evil" : "search" }),
);
const old = [at(now - 500 * DAY, { userSub: "bob" }), at(now - 450 * DAY, { userSub: "bob" }), at(now - 401 * DAY)];

describe("npm run audit", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
    const store = createAuditStore(db.pool);
    for (let i = 0; i < recent.length; i += 500) await store.insert(recent.slice(i, i + 500));
    await store.insert(old);
  });
  afterAll(async () => {
    await db?.close();
  });

  it("exports a search as CSV to stdout, progress on stderr", async () => {
    const run = await cli(["search", "--user", "ada@example.com", "--limit", "5000", "--format", "csv"], db.url);
    expect(run).toMatchObject({ code: 0 });
    const lines = run.stdout.split("\r\n").filter(Boolean);
    expect(lines[0]).toBe(CSV_COLUMNS.join(","));
    expect(lines).toHaveLength(1 + recent.length);
    expect(run.stdout).toContain(",'@evil,");
    expect(run.stderr).toContain("audit: 2000 rows so far");
    expect(run.stderr).toContain("audit: 2500 rows exported");
  });

  it("exports NDJSON by default, and names the cursor when the limit stops it", async () => {
    const first = await cli(["search", "--user", "bob", "--limit", "1"], db.url);
    expect(first.code).toBe(0);
    expect(
      first.stdout
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line)),
    ).toEqual([old[1]]);
    const cursor = /--cursor (\S+)/.exec(first.stderr)?.[1];
    expect(cursor).toEqual(expect.any(String));
    const second = await cli(["search", "--user", "bob", "--cursor", cursor ?? ""], db.url);
    expect(
      second.stdout
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line)),
    ).toEqual([old[0]]);
    expect(second.stderr).not.toContain("--cursor");
  });

  it("exits 2 on bad arguments, naming the option, before touching the database", async () => {
    const unknown = await cli(["search", "--usr", "ada"], undefined);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("'--usr'");
    const bad = await cli(["search", "--outcome", "maybe", "--from", "yesterday"], undefined);
    expect(bad.code).toBe(2);
    // The route's message, word for word, as docs/audit.md quotes it for both.
    const doc = readFileSync(new URL("../../docs/audit.md", import.meta.url), "utf8");
    const quoted = /`(outcome: expected one of [^`]+)`/.exec(doc)?.[1];
    expect(quoted).toBe(
      'outcome: expected one of ok, error, tool_error, denied, unavailable, cancelled, input_required; got "maybe"',
    );
    const lines = bad.stderr.split("\n").map((line) => line.replace(/^(audit: | {2})/, ""));
    expect(lines).toContain(quoted);
    expect(bad.stderr).toContain("from: expected an ISO 8601");
    expect(bad.stdout).toBe("");
    const purge = await cli(["purge", "--older-than-days", "soon"], undefined);
    expect(purge.code).toBe(2);
    expect(purge.stderr).toContain('--older-than-days: expected a whole number of days, at least 1; got "soon"');
    expect((await cli(["purge"], undefined)).stderr).toContain("--older-than-days is required");
    expect((await cli(["export"], undefined)).code).toBe(2);
  });

  it("exits 2 for a --public-key file that holds no public key, as for one it cannot read, before the database", async () => {
    const folder = await mkdtemp(join(tmpdir(), "audit-cli-"));
    try {
      // What /etc/hostname holds: a file, but no key.
      const notAKey = join(folder, "hostname");
      await writeFile(notAKey, "ip-10-0-1-23\n");
      for (const url of [undefined, db.url]) {
        const run = await cli(["verify", "--public-key", notAKey], url);
        expect(run.code).toBe(2);
        expect(run.stderr).toMatch(new RegExp(`^audit: --public-key ${notAKey}: not a PEM or DER public key: .*\n\nusage:\n`));
        expect(run.stdout).toBe("");
      }
      const missing = await cli(["verify", "--public-key", join(folder, "absent.pem")], undefined);
      expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining("--public-key: cannot read") });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("exits 1 saying what to set when DATABASE_URL is unset, and when the database cannot be reached", async () => {
    const unset = await cli(["search"], undefined);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain("DATABASE_URL is not set: set it to");
    const down = await cli(["search"], "postgres://postgres@127.0.0.1:1/postgres");
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^audit: failed: /);
  });

  it("on a deployment without retention (minimum age 36500 days), a dry run counts, and both say the purge is refused and how to allow it", async () => {
    // What the migrate step sets when AUDIT_RETENTION_DAYS is unset (aws/origin/db/roles.ts, KEEP_FOREVER_DAYS).
    await db.pool.query("UPDATE audit_purge_policy SET min_age_days = 36500");
    try {
      const fix =
        /set the retention to 400 days or less \(on AWS origin\.auditRetentionDays, then deploy; .*`UPDATE audit_purge_policy SET min_age_days = 400`/;
      const dry = await cli(["purge", "--older-than-days", "400", "--dry-run"], db.url);
      expect(dry.code).toBe(1);
      expect(dry.stdout).toMatch(/^would delete 3 audit events older than \S+ \(400 days\)\n$/);
      expect(dry.stderr).toMatch(
        /^audit: the purge itself \(without --dry-run\) would fail: audit purge refused: cut-off \S+ is less than 36500 days ago/,
      );
      expect(dry.stderr).toMatch(fix);
      const real = await cli(["purge", "--older-than-days", "400"], db.url);
      expect(real.code).toBe(1);
      expect(real.stdout).toBe("");
      expect(real.stderr).toMatch(/\naudit: failed: audit purge refused: cut-off \S+ is less than 36500 days ago/);
      expect(real.stderr).toMatch(fix);
      expect(Number((await db.pool.query("SELECT count(*) AS n FROM audit_events")).rows[0].n)).toBe(recent.length + old.length);
    } finally {
      await db.pool.query("UPDATE audit_purge_policy SET min_age_days = 1");
    }
  });

  it("purges events older than the given days, after a dry run that deletes nothing", async () => {
    const dry = await cli(["purge", "--older-than-days", "400", "--dry-run"], db.url);
    expect(dry).toMatchObject({ code: 0 });
    expect(dry.stdout).toMatch(/^would delete 3 audit events older than \S+ \(400 days\)\n$/);
    const count = async () => Number((await db.pool.query("SELECT count(*) AS n FROM audit_events")).rows[0].n);
    expect(await count()).toBe(recent.length + old.length);
    const real = await cli(["purge", "--older-than-days", "400"], db.url);
    expect(real.stdout).toMatch(/^deleted 3 audit events older than \S+ \(400 days\)\n$/);
    expect(real.stderr).toMatch(/^audit purge: deleting events older than 400 days, 10000 at a time/);
    expect(await count()).toBe(recent.length);
  });

  it("reports a long purge's progress on stderr, its result alone on stdout", async () => {
    // 100,500 old rows outside every chain (as before migration 0007): 11 batches of the purge. Written in parts, each
    // well within the pool's statement timeout on a loaded machine.
    for (let from = 1; from <= 100500; from += 20100) {
      await db.pool.query(
        `INSERT INTO audit_events (id, time, kind, outcome, latency_ms)
        SELECT gen_random_uuid(), now() - interval '500 days' - n * interval '1 second', 'mcp.request', 'ok', 1
        FROM generate_series($1::int, $2::int) AS n`,
        [from, from + 20099],
      );
    }
    const run = await cli(["purge", "--older-than-days", "400"], db.url);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^deleted 100500 audit events older than \S+ \(400 days\)\n$/);
    expect(run.stderr.split("\n")).toEqual([
      expect.stringMatching(/^audit purge: deleting events older than 400 days, 10000 at a time/),
      "audit purge: 100000 rows deleted so far",
      "",
    ]);
  });
});

describe("docs/audit.md on running the CLI", () => {
  const text = readFileSync(new URL("../../docs/audit.md", import.meta.url), "utf8");

  it("connects as a login the deployment has, to its database, over verified TLS (RDS forces it)", () => {
    const urls = [...text.matchAll(/postgres(?:ql)?:\/\/[^\s'"`]+/g)].map(([url]) => url);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) {
      const [, user, database, query] = /^postgres(?:ql)?:\/\/([^:@/]+)(?::[^@]*)?@[^/]+\/([^?]+)\?(.*)$/.exec(url) ?? [];
      expect({ url, user, database }).toEqual({
        url,
        user: expect.toBeOneOf([DATABASE_APP_USER, DATABASE_USER]),
        database: DATABASE_NAME,
      });
      expect(new URLSearchParams(query).get("sslmode")).toBe("verify-full");
      expect(new URLSearchParams(query).get("sslrootcert")).toEqual(expect.any(String));
    }
  });

  it("names only secrets the data stack creates", () => {
    const stack = readFileSync(new URL("../../aws/cdk/data/database.ts", import.meta.url), "utf8");
    const secrets = [...text.matchAll(/`<name>\/([\w/-]+)`/g)].map(([, secret]) => secret);
    expect(secrets).toEqual(expect.arrayContaining(["database-app", "database"]));
    expect(secrets.filter((secret) => !stack.includes(`secretName: \`\${props.name}/${secret}\``))).toEqual([]);
  });
});
