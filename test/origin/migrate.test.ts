import { readdir } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MIGRATION_LOCK_ID, MIGRATIONS_DIR, MIGRATIONS_TABLE, migrate } from "../../aws/origin/db/migrate.ts";
import { APPLICATION_NAME, createPool } from "../../aws/origin/db/pool.ts";
import { type TestDatabase, usesEmbeddedDatabase, withTestDatabase } from "./database.ts";

const migrationNames = async () =>
  (await readdir(MIGRATIONS_DIR))
    .filter((file) => file.endsWith(".sql"))
    .sort()
    .map((file) => file.slice(0, -".sql".length));

const tableExists = async (pool: pg.Pool, table: string) =>
  (await pool.query<{ found: boolean }>("SELECT to_regclass($1) IS NOT NULL AS found", [table])).rows[0]?.found;

describe("migrate", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await withTestDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("applies every migration once, in order, and nothing when run again", async () => {
    const names = await migrationNames();
    expect(names[0]).toBe("0001_audit_and_replay");

    expect(await migrate(db.pool)).toEqual({ applied: names });
    expect(await migrate(db.pool)).toEqual({ applied: [] });
    expect(await migrate(db.url)).toEqual({ applied: [] });

    const recorded = await db.pool.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`);
    expect(recorded.rows.map((row) => row.name)).toEqual(names);
  });

  it("creates the audit and replay tables with their keys and indexes", async () => {
    const columns = await db.pool.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
      `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name IN ('audit_events', 'assertion_jtis')
       ORDER BY table_name, ordinal_position`,
    );
    const described = columns.rows.map(
      (c) => `${c.table_name}.${c.column_name} ${c.data_type}${c.is_nullable === "NO" ? " not null" : ""}`,
    );
    expect(described).toEqual([
      "assertion_jtis.jti text not null",
      "assertion_jtis.expires_at timestamp with time zone not null",
      "audit_events.id uuid not null",
      "audit_events.time timestamp with time zone not null",
      "audit_events.kind text not null",
      "audit_events.user_sub text",
      "audit_events.user_email text",
      "audit_events.client_id text",
      "audit_events.server text",
      "audit_events.method text",
      "audit_events.tool text",
      "audit_events.outcome text not null",
      "audit_events.error_code integer",
      "audit_events.http_status integer",
      "audit_events.latency_ms double precision not null",
      "audit_events.request_bytes integer",
      "audit_events.response_bytes integer",
      "audit_events.protocol_version text",
      "audit_events.received_at timestamp with time zone not null",
      "audit_events.count integer",
      "audit_events.arguments text",
      "audit_events.chain integer",
      "audit_events.seq bigint",
      "audit_events.prev_hash bytea",
      "audit_events.hash bytea",
    ]);

    const indexes = await db.pool.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ('audit_events', 'assertion_jtis')`,
    );
    const indexed = indexes.rows.map((row) => row.indexdef.replace(/^.* ON public\.(\w+) USING (\w+) /, "$1 $2 ")).sort();
    expect(indexed).toEqual(
      [
        "assertion_jtis btree (expires_at)",
        "assertion_jtis btree (jti)",
        "audit_events btree (chain, seq)",
        "audit_events btree (id)",
        'audit_events btree (kind, "time")',
        'audit_events btree (server, "time")',
        'audit_events btree ("time" DESC, id DESC)',
        'audit_events btree (tool text_pattern_ops, "time")',
        'audit_events btree (user_email, "time")',
        'audit_events btree (user_sub, "time")',
      ].sort(),
    );
    const unique = await db.pool.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE 'CREATE UNIQUE%' AND tablename IN ('audit_events', 'assertion_jtis') ORDER BY tablename, indexname`,
    );
    expect(unique.rows.map((row) => row.indexdef)).toEqual([
      expect.stringMatching(/ON public\.assertion_jtis USING btree \(jti\)$/),
      expect.stringMatching(/ON public\.audit_events USING btree \(chain, seq\)$/),
      expect.stringMatching(/ON public\.audit_events USING btree \(id\)$/),
    ]);
    const received = await db.pool.query<{ column_default: string }>(
      `SELECT column_default FROM information_schema.columns WHERE table_name = 'audit_events' AND column_name = 'received_at'`,
    );
    expect(received.rows[0]?.column_default).toBe("now()");
  });

  it("rolls a failing run back whole, reports why, and succeeds once the cause is gone", async () => {
    const fresh = await withTestDatabase();
    try {
      // The second table of 0001 already exists: the first one must not stay behind.
      await fresh.pool.query("CREATE TABLE assertion_jtis (jti text)");
      await expect(migrate(fresh.pool)).rejects.toThrow(/^database migration failed: relation "assertion_jtis" already exists/);
      expect(await tableExists(fresh.pool, "audit_events")).toBe(false);

      await fresh.pool.query("DROP TABLE assertion_jtis");
      expect(await migrate(fresh.pool)).toEqual({ applied: await migrationNames() });
    } finally {
      await fresh.close();
    }
  });

  // PGlite is one backend shared by every connection, so advisory locks exclude nothing there;
  // only one origin ever uses the embedded database. These run against a real server (DATABASE_URL).
  describe.skipIf(usesEmbeddedDatabase)("with several origin tasks (needs DATABASE_URL)", () => {
    it("waits while another task holds the migration lock", async () => {
      const fresh = await withTestDatabase();
      const holder = new pg.Client({ connectionString: fresh.url });
      await holder.connect();
      try {
        await holder.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_ID]);
        let settled = false;
        const running = migrate(fresh.pool).finally(() => {
          settled = true;
        });
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(settled).toBe(false);
        expect(await tableExists(fresh.pool, "audit_events")).toBe(false);

        await holder.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_ID]);
        expect(await running).toEqual({ applied: await migrationNames() });
      } finally {
        await holder.end();
        await fresh.close();
      }
    });

    it("applies each migration once when two tasks start at the same moment", async () => {
      const fresh = await withTestDatabase();
      try {
        const runs = await Promise.all([migrate(fresh.pool), migrate(fresh.createPool()), migrate(fresh.url)]);
        const applied = runs.map((run) => run.applied).sort((a, b) => b.length - a.length);
        expect(applied).toEqual([await migrationNames(), [], []]);
      } finally {
        await fresh.close();
      }
    });
  });
});

describe("createPool", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await withTestDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("opens no more connections than asked", async () => {
    const pool = createPool(db.url, { max: 1 });
    try {
      // Two at once through one connection: the second waits for the first to be released.
      const first = await pool.connect();
      let secondConnected = false;
      const second = pool.connect().then((client) => {
        secondConnected = true;
        return client;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(secondConnected).toBe(false);
      expect(pool.waitingCount).toBe(1);
      first.release();
      (await second).release();
    } finally {
      await pool.end();
    }
  });

  // PGlite ignores the startup parameters and has no other backends to terminate.
  describe.skipIf(usesEmbeddedDatabase)("on a server (needs DATABASE_URL)", () => {
    it("names its sessions after the origin", async () => {
      const { rows } = await db.pool.query("SELECT current_setting('application_name') AS name");
      expect(rows).toEqual([{ name: APPLICATION_NAME }]);
    });

    it("survives an idle connection being killed, reporting it, and reconnects", async () => {
      const errors: Error[] = [];
      const pool = createPool(db.url, { max: 1, onIdleClientError: (error) => errors.push(error) });
      try {
        const { rows } = await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
        await db.pool.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]);
        await vi.waitFor(() => expect(errors).toHaveLength(1));
        expect((await pool.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      } finally {
        await pool.end();
      }
    });
  });
});
