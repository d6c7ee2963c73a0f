import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { claimOrRefuse, createReplayGuard } from "../../aws/origin/trust/replay-guard.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

const inFiveMinutes = () => new Date(Date.now() + 5 * 60_000);
const ago = (ms: number) => new Date(Date.now() - ms);

describe("replay guard", () => {
  let db: TestDatabase;
  const stored = async (jtis: string[]) =>
    (await db.pool.query<{ jti: string }>("SELECT jti FROM assertion_jtis WHERE jti = ANY($1) ORDER BY jti", [jtis])).rows.map(
      (row) => row.jti,
    );
  const insertRows = async (rows: [jti: string, expiresAt: Date][]) => {
    for (const [jti, expiresAt] of rows) {
      await db.pool.query("INSERT INTO assertion_jtis (jti, expires_at) VALUES ($1, $2)", [jti, expiresAt]);
    }
  };

  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });

  it("accepts a jti the first time and refuses it after", async () => {
    const guard = createReplayGuard(db.pool);
    const jti = randomUUID();
    expect(await guard.claim(jti, inFiveMinutes())).toBe(true);
    expect(await guard.claim(jti, inFiveMinutes())).toBe(false);
    expect(await guard.claim(jti, new Date(Date.now() + 3_600_000))).toBe(false);
    expect(await guard.claim(randomUUID(), inFiveMinutes())).toBe(true);
    await guard.idle();
  });

  it("accepts exactly one of ten simultaneous claims of one jti", async () => {
    const guard = createReplayGuard(db.pool);
    const jti = randomUUID();
    const results = await Promise.all(Array.from({ length: 10 }, () => guard.claim(jti, inFiveMinutes())));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await stored([jti])).toEqual([jti]);
    await guard.idle();
  });

  it("accepts exactly one claim of a jti across origin tasks sharing the database", async () => {
    const guards = [createReplayGuard(db.pool), createReplayGuard(db.createPool()), createReplayGuard(db.createPool())];
    const jti = randomUUID();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => guards[i % 3]?.claim(jti, inFiveMinutes())));
    expect(results.filter(Boolean)).toHaveLength(1);
    await Promise.all(guards.map((guard) => guard.idle()));
  });

  it("purges expired rows now and then, not on every claim", async () => {
    await db.pool.query("TRUNCATE assertion_jtis");
    let now = 1_000_000;
    const purged: number[] = [];
    const guard = createReplayGuard(db.pool, { now: () => now, onPurged: (deleted) => purged.push(deleted) });

    // Long expired, expired just now (kept: the purge leaves a minute's margin), still valid.
    await insertRows([
      ["old-1", ago(3_600_000)],
      ["old-2", ago(120_000)],
      ["recent", ago(5_000)],
      ["valid", inFiveMinutes()],
    ]);
    expect(await guard.claim("first", inFiveMinutes())).toBe(true);
    await guard.idle();
    expect(purged).toEqual([2]);
    expect(await stored(["old-1", "old-2", "recent", "valid", "first"])).toEqual(["first", "recent", "valid"]);

    await insertRows([["old-3", ago(3_600_000)]]);
    now += 59_000;
    for (const jti of ["second", "third", "fourth"]) {
      expect(await guard.claim(jti, inFiveMinutes())).toBe(true);
      await guard.idle();
    }
    expect(purged).toEqual([2]);
    expect(await stored(["old-3"])).toEqual(["old-3"]);

    now += 1_000;
    expect(await guard.claim("fifth", inFiveMinutes())).toBe(true);
    await guard.idle();
    expect(purged).toEqual([2, 1]);
    expect(await stored(["old-3"])).toEqual([]);
  });

  it("does not let a failing purge affect the claim that started it", async () => {
    const errors: unknown[] = [];
    const guard = createReplayGuard(db.pool, { onPurgeError: (error) => errors.push(error) });
    await db.pool.query(`
      CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'no purging today'; END $$;
      CREATE TRIGGER refuse_delete BEFORE DELETE ON assertion_jtis FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();`);
    try {
      const jti = randomUUID();
      expect(await guard.claim(jti, inFiveMinutes())).toBe(true);
      await guard.idle();
      expect(errors).toEqual([expect.objectContaining({ message: "no purging today" })]);
      expect(await guard.claim(jti, inFiveMinutes())).toBe(false);
    } finally {
      await db.pool.query("DROP TRIGGER refuse_delete ON assertion_jtis; DROP FUNCTION refuse_delete()");
    }
  });

  it("purges on request and says how many rows went", async () => {
    await db.pool.query("TRUNCATE assertion_jtis");
    await insertRows([
      ["gone-1", ago(600_000)],
      ["gone-2", ago(600_000)],
      ["kept", inFiveMinutes()],
    ]);
    const guard = createReplayGuard(db.pool);
    expect(await guard.purgeExpired()).toBe(2);
    expect(await guard.purgeExpired()).toBe(0);
    expect(await stored(["gone-1", "gone-2", "kept"])).toEqual(["kept"]);
  });

  it("refuses an empty jti or an invalid expiry", async () => {
    const guard = createReplayGuard(db.pool);
    await expect(guard.claim("", inFiveMinutes())).rejects.toThrow(TypeError);
    await expect(guard.claim(randomUUID(), new Date(Number.NaN))).rejects.toThrow(TypeError);
  });
});

describe("claiming a request's single-use value when the database does not answer", () => {
  it("refuses the request with a plain JSON-RPC error; the driver's message (internal addresses) goes to the log only", async () => {
    const logged: string[] = [];
    const down = async (): Promise<boolean> => {
      throw new Error("connect ECONNREFUSED 10.0.3.7:5432");
    };
    const refused = claimOrRefuse(down, (line) => logged.push(line))("approval:n", inFiveMinutes());
    await expect(refused).rejects.toMatchObject({
      code: -32000,
      message: expect.stringContaining("its database did not answer"),
    });
    await expect(refused).rejects.not.toMatchObject({ message: expect.stringContaining("10.0.3.7") });
    expect(logged).toEqual([expect.stringContaining("ECONNREFUSED 10.0.3.7:5432")]);
  });
});
