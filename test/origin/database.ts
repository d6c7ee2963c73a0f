import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createPool } from "../../aws/origin/db/pool.ts";
import { createReplayGuard, type ReplayGuard } from "../../aws/origin/trust/replay-guard.ts";
import { EMBEDDED_POOL_MAX, startEmbeddedPostgres } from "../../local/embedded-postgres.ts";

/** True when tests run on embedded PGlite, false when DATABASE_URL names a PostgreSQL server. */
export const usesEmbeddedDatabase = !process.env.DATABASE_URL;

export interface TestDatabase {
  /** URL of a database that no other test uses. */
  url: string;
  /** The pool size the origin would use there: EMBEDDED_POOL_MAX on PGlite. */
  poolMax: number;
  /** A pool on it, made as the origin makes its own (ended by close). */
  pool: pg.Pool;
  /** Another such pool, standing for a second origin task (ended by close). */
  createPool(): pg.Pool;
  /** Ends the pools and removes the database. */
  close(): Promise<void>;
}

/**
 * A fresh, empty database. With DATABASE_URL set, a uniquely named database created on that
 * server (and dropped afterwards); otherwise an embedded PGlite on a free port, kept in a
 * temporary directory that is removed afterwards.
 */
export async function withTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  return serverUrl ? await onServer(serverUrl) : await embedded();
}

async function onServer(serverUrl: string): Promise<TestDatabase> {
  const name = `mcp_edge_test_${randomUUID().replaceAll("-", "")}`;
  await asAdmin(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return withPools(url.toString(), 10, () => asAdmin(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

async function embedded(): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), "mcp-edge-pglite-"));
  try {
    const database = await startEmbeddedPostgres({ dataDir, port: 0 });
    return withPools(database.url, EMBEDDED_POOL_MAX, async () => {
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The record of single-use values that origin instances share, on a fresh migrated database: `claim` as one origin
 * task calls it, `claimElsewhere` as a second task would (its own pool). Close it after the tests.
 */
export async function withSharedReplayGuard(): Promise<{
  claim: ReplayGuard["claim"];
  claimElsewhere: ReplayGuard["claim"];
  close(): Promise<void>;
}> {
  const db = await withTestDatabase();
  await migrate(db.pool);
  const here = createReplayGuard(db.pool);
  const elsewhere = createReplayGuard(db.createPool());
  return {
    claim: here.claim,
    claimElsewhere: elsewhere.claim,
    async close() {
      await Promise.all([here.idle(), elsewhere.idle()]);
      await db.close();
    },
  };
}

function withPools(url: string, poolMax: number, remove: () => Promise<void>): TestDatabase {
  const pools: pg.Pool[] = [];
  const newPool = () => {
    const pool = createPool(url, { max: poolMax });
    pools.push(pool);
    return pool;
  };
  return {
    url,
    poolMax,
    pool: newPool(),
    createPool: newPool,
    async close() {
      await Promise.all(pools.map((pool) => pool.end()));
      await remove();
    },
  };
}

async function asAdmin(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
