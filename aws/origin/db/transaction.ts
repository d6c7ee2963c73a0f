import type pg from "pg";
import { withConnection } from "./with-connection.ts";

/**
 * Runs `work` on one connection inside BEGIN … COMMIT, rolled back when it throws. A connection whose ROLLBACK failed
 * is destroyed rather than returned to the pool, where it would carry the broken transaction to the next caller.
 */
export function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withConnection(pool, async (client, broken) => {
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(broken);
      throw error;
    }
  });
}
