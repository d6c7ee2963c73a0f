import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { longStatement } from "../../aws/origin/db/long-statement.ts";
import { APPLICATION_NAME, createPool } from "../../aws/origin/db/pool.ts";
import { inTransaction } from "../../aws/origin/db/transaction.ts";
import { isDatabaseUnavailable } from "../../aws/origin/db/unavailable.ts";
import { type TestDatabase, usesEmbeddedDatabase, withTestDatabase } from "./database.ts";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("which database errors are an outage (503, retry) rather than a bug (500)", () => {
  it("counts a refused login (a rotated password) and a server out of room as an outage", () => {
    for (const code of ["28P01", "28000", "53300", "53100", "53200", "57014", "08006", "57P01"])
      expect(isDatabaseUnavailable(Object.assign(new Error("x"), { code })), code).toBe(true);
    for (const code of ["42P01", "23505", "42501", "08P01"])
      expect(isDatabaseUnavailable(Object.assign(new Error("x"), { code })), code).toBe(false);
  });
});

describe.skipIf(usesEmbeddedDatabase)("a PostgreSQL server failing under the origin (needs DATABASE_URL)", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await withTestDatabase();
    await db.pool.query("CREATE TABLE held (id int)");
  });
  afterAll(() => db?.close());

  it("outlives a connection terminated in the middle of a transaction, and the pool goes on", async () => {
    const other = db.createPool(); // ended by db.close()
    const failed = inTransaction(db.pool, async (client) => {
      const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      await other.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]);
      // The connection reports its end while the transaction waits here: nothing else listens to it now.
      await pause(300);
      await client.query("SELECT 1");
    });
    await expect(failed).rejects.toThrow();
    expect((await db.pool.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
  });

  it("has the server cancel a statement stuck on a lock, so no session is left behind on the server", async () => {
    const holder = db.createPool(); // ended by db.close()
    const bounded = createPool(db.url, { max: 1, statementTimeoutMs: 500 });
    const locker = await holder.connect();
    try {
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE held IN ACCESS EXCLUSIVE MODE");
      const stuck = await bounded.query("SELECT count(*) FROM held").catch((error: unknown) => error);
      expect((stuck as { code?: string }).code).toBe("57014");
      expect(isDatabaseUnavailable(stuck)).toBe(true);
      const waiting = await holder.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [APPLICATION_NAME],
      );
      expect(waiting.rows).toEqual([{ n: 0 }]);
    } finally {
      await locker.query("ROLLBACK");
      locker.release();
      await bounded.end();
    }
  });

  it("lets a statement of work that grows with the data outlast the pool's bound, under a bound of its own", async () => {
    const bounded = createPool(db.url, { max: 1, statementTimeoutMs: 300 });
    try {
      const cut = await bounded.query("SELECT pg_sleep(0.6)").catch((error: unknown) => error);
      expect((cut as { code?: string }).code).toBe("57014");
      expect((await longStatement(bounded, "SELECT pg_sleep(0.6), $1::int AS n", [7], 5_000)).rows).toEqual([
        { pg_sleep: "", n: 7 },
      ]);
      const overLong = await longStatement(bounded, "SELECT pg_sleep(1)", [], 300).catch((error: unknown) => error);
      expect((overLong as { code?: string }).code).toBe("57014");
      // The longer bound was this transaction's only: the pool's next statement is bounded again.
      expect(((await bounded.query("SELECT pg_sleep(0.6)").catch((error: unknown) => error)) as { code?: string }).code).toBe(
        "57014",
      );
    } finally {
      await bounded.end();
    }
  });

  it("bounds the origin's statements, and none of a migration's", async () => {
    const migrations = createPool(db.url, { max: 1, statementTimeoutMs: 0 });
    try {
      expect((await db.pool.query("SHOW statement_timeout")).rows).toEqual([{ statement_timeout: "9s" }]);
      expect((await migrations.query("SHOW statement_timeout")).rows).toEqual([{ statement_timeout: "0" }]);
      expect((await db.pool.query("SHOW idle_in_transaction_session_timeout")).rows).toEqual([
        { idle_in_transaction_session_timeout: "1min" },
      ]);
    } finally {
      await migrations.end();
    }
  });
});
