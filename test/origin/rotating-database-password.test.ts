import { once } from "node:events";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPool } from "../../aws/origin/db/pool.ts";
import { createRotatingPassword, type SecretStage } from "../../aws/origin/db/rotating-password.ts";
import { isDatabaseUnavailable } from "../../aws/origin/db/unavailable.ts";
import { PASSWORD_UNREADABLE, readDatabasePasswordStage } from "../../aws/origin/secrets/aws/database-password.ts";
import { type FakeSecretsManager, startFakeSecretsManager } from "../aws/secrets-manager-fake.ts";
import { type PasswordCheckingPostgres, startPasswordCheckingPostgres } from "./password-checking-postgres.ts";

const SECRET_ID = "proxy/database-app";
const document = (password: string) => JSON.stringify({ username: "u", password, host: "db", port: 5432 });

/** The password a stage reads, from a table standing for the secret (undefined: no such stage). */
function stagesOf(table: Partial<Record<SecretStage, string>>) {
  const reads: SecretStage[] = [];
  const read = async (stage: SecretStage) => {
    reads.push(stage);
    return table[stage];
  };
  return { table, reads, read };
}

describe("a rotating database password (DATABASE_PASSWORD_SECRET): which version a connection uses", () => {
  it("reads AWSCURRENT at the first connection and keeps it, without reading again for later ones", async () => {
    const secret = stagesOf({ AWSCURRENT: "one" });
    const password = createRotatingPassword(secret.read);
    expect([await password.current(), await password.current()]).toEqual(["one", "one"]);
    expect(secret.reads).toEqual(["AWSCURRENT"]);
  });

  it("after a refusal, takes the newest stage that differs from the refused password: current, then pending, then previous", async () => {
    for (const [table, expected] of [
      [{ AWSCURRENT: "new", AWSPREVIOUS: "old" }, "new"],
      [{ AWSCURRENT: "old", AWSPENDING: "new", AWSPREVIOUS: "older" }, "new"],
      [{ AWSCURRENT: "old", AWSPREVIOUS: "older" }, "older"],
    ] as const) {
      const secret = stagesOf({ AWSCURRENT: "old" });
      const password = createRotatingPassword(secret.read);
      await password.current();
      Object.assign(secret.table, table);
      expect(await password.refused(password.generation())).toBe(true);
      expect(await password.current()).toBe(expected);
      expect(password.generation()).toBe(1);
    }
  });

  it("keeps the refused password and says no retry is worth it when no stage holds another", async () => {
    const secret = stagesOf({ AWSCURRENT: "only", AWSPREVIOUS: "only" });
    const password = createRotatingPassword(secret.read);
    await password.current();
    expect(await password.refused(0)).toBe(false);
    expect(await password.current()).toBe("only");
    expect(password.generation()).toBe(0);
  });

  it("a connection refused under a password already replaced retries at once, without reading the secret", async () => {
    const secret = stagesOf({ AWSCURRENT: "old" });
    const password = createRotatingPassword(secret.read);
    await password.current();
    secret.table.AWSCURRENT = "new";
    await password.refused(0);
    const readsBefore = secret.reads.length;
    expect(await password.refused(0)).toBe(true);
    expect(secret.reads.length).toBe(readsBefore);
  });

  it("connections refused together share one reading of the secret", async () => {
    const secret = stagesOf({ AWSCURRENT: "old" });
    const password = createRotatingPassword(secret.read);
    await password.current();
    secret.table.AWSCURRENT = "new";
    expect(await Promise.all([password.refused(0), password.refused(0), password.refused(0)])).toEqual([true, true, true]);
    expect(secret.reads).toEqual(["AWSCURRENT", "AWSCURRENT"]);
  });

  it("reads again after a fruitless reading only once the interval has passed (a database refusing every version)", async () => {
    let clock = 0;
    const secret = stagesOf({ AWSCURRENT: "only" });
    const password = createRotatingPassword(secret.read, { now: () => clock, minRereadIntervalMs: 5_000 });
    await password.current();
    expect(await password.refused(0)).toBe(false);
    const readsAfterFirst = secret.reads.length;
    clock = 4_999;
    expect(await password.refused(0)).toBe(false);
    expect(secret.reads.length).toBe(readsAfterFirst);
    clock = 5_000;
    secret.table.AWSCURRENT = "rotated";
    expect(await password.refused(0)).toBe(true);
    expect(await password.current()).toBe("rotated");
  });

  it("does not keep a failed first reading: the next connection reads again", async () => {
    let failing = true;
    const password = createRotatingPassword(async () => {
      if (failing) throw new Error("Secrets Manager unreachable");
      return "now";
    });
    await expect(password.current()).rejects.toThrow("unreachable");
    failing = false;
    expect(await password.current()).toBe("now");
  });
});

describe("the origin's pool with a password Secrets Manager rotates (no restart, no redeploy)", () => {
  let secrets: FakeSecretsManager;
  let database: PasswordCheckingPostgres;
  let pool: pg.Pool | undefined;
  const saved = { ...process.env };

  const client = () =>
    new SecretsManagerClient({
      endpoint: secrets.endpoint,
      region: "eu-west-1",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "placeholder-secret-key" },
    });
  const openPool = () => {
    const password = createRotatingPassword(readDatabasePasswordStage(SECRET_ID, client()));
    pool = createPool(`postgresql://u@127.0.0.1:${database.port}/d`, { max: 2, password });
    return pool;
  };
  /** The server closes every connection, and the pool has noticed (it opens a new one for the next query). */
  const dropConnections = async (db: pg.Pool) => {
    const removed = once(db, "remove");
    database.dropConnections();
    await removed;
  };
  const setSecret = (current: string, stages: { AWSPENDING?: string; AWSPREVIOUS?: string } = {}) =>
    secrets.secrets.set(SECRET_ID, {
      value: document(current),
      versionId: `v-${current}`,
      stages: Object.fromEntries(Object.entries(stages).map(([stage, value]) => [stage, document(value)])),
    });

  beforeAll(async () => {
    secrets = await startFakeSecretsManager();
    database = await startPasswordCheckingPostgres("first-password");
  });
  beforeEach(() => {
    for (const name of ["PGPASSWORD", "PGSSLMODE", "PGSSLROOTCERT", "PGUSER", "PGHOST", "PGPORT"]) delete process.env[name];
    database.accepted = "first-password";
    database.attempts.length = 0;
    secrets.requests.length = 0;
    secrets.failing = false;
    setSecret("first-password");
  });
  afterEach(async () => {
    await pool?.end();
    pool = undefined;
    process.env = { ...saved };
  });
  afterAll(async () => {
    await database.close();
    await secrets.close();
  });

  it("logs in with the secret's current password, read once for every connection after", async () => {
    const db = openPool();
    expect((await db.query("SELECT 1")).rows).toEqual([{ "?column?": 1 }]);
    await dropConnections(db);
    expect((await db.query("SELECT 1")).rows).toEqual([{ "?column?": 1 }]);
    expect(database.attempts).toEqual(["first-password", "first-password"]);
    expect(secrets.requests.map((request) => request.stage)).toEqual(["AWSCURRENT"]);
  });

  it("after a rotation, the next new connection is refused once, reads the secret again and succeeds: the query never fails", async () => {
    const db = openPool();
    await db.query("SELECT 1");
    database.accepted = "second-password";
    setSecret("second-password", { AWSPREVIOUS: "first-password" });
    await dropConnections(db);
    expect((await db.query("SELECT 1")).rows).toEqual([{ "?column?": 1 }]);
    expect(database.attempts).toEqual(["first-password", "first-password", "second-password"]);
  });

  it("in a rotation's window (the database already holds AWSPENDING) and after a task set the previous password again", async () => {
    for (const [accepted, current, stages] of [
      ["pending-password", "first-password", { AWSPENDING: "pending-password" }],
      ["first-password", "second-password", { AWSPREVIOUS: "first-password" }],
    ] as const) {
      database.accepted = "first-password";
      setSecret("first-password");
      const db = openPool();
      await db.query("SELECT 1");
      database.accepted = accepted;
      setSecret(current, stages);
      await dropConnections(db);
      await expect(db.query("SELECT 1")).resolves.toMatchObject({ rowCount: 1 });
      await pool?.end();
      pool = undefined;
    }
  });

  it("refused under every version: the query fails as the database being unavailable after one retry, not a loop", async () => {
    const db = openPool();
    await db.query("SELECT 1");
    database.accepted = "a-password-nobody-has";
    setSecret("second-password", { AWSPREVIOUS: "first-password" });
    await dropConnections(db);
    database.attempts.length = 0;
    const error = await db.query("SELECT 1").then(
      () => undefined,
      (failure: unknown) => failure as Error & { code?: string },
    );
    expect(error?.code).toBe("28P01");
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(database.attempts).toEqual(["first-password", "second-password"]);
  });

  it("refused, and the secret unreadable when read again: unavailable, with the unreadable secret's code (s27 review R6)", async () => {
    const db = openPool();
    await db.query("SELECT 1");
    database.accepted = "rotated-meanwhile";
    secrets.failing = true;
    await dropConnections(db);
    const error = await db.query("SELECT 1").then(
      () => undefined,
      (failure: unknown) => failure as Error & { code?: string },
    );
    expect(error?.code).toBe(PASSWORD_UNREADABLE);
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(error?.message).toContain("the database refused the password, and reading it again failed");
  });

  it("a secret that cannot be read fails the connection as unavailable, naming the secret and never a password", async () => {
    secrets.failing = true;
    const db = openPool();
    const error = await db.query("SELECT 1").then(
      () => undefined,
      (failure: unknown) => failure as Error & { code?: string },
    );
    expect(error?.code).toBe(PASSWORD_UNREADABLE);
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(error?.message).toContain(SECRET_ID);
    expect(error?.message).not.toContain("first-password");
    expect(database.attempts).toEqual([]);
    secrets.secrets.set(SECRET_ID, { value: "not json", versionId: "v-bad" });
    secrets.failing = false;
    await expect(db.query("SELECT 1")).rejects.toThrow(/is not a JSON document with a "password" text field/);
  });
});
