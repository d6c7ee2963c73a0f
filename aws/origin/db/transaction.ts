import type pg from "pg";

/**
 * Runs `work` on one connection inside BEGIN … COMMIT, rolled back when it throws. A connection whose ROLLBACK failed
 * is destroyed rather than returned to the pool, where it would carry the broken transaction to the next caller.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
