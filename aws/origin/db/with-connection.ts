import type pg from "pg";
import { isDatabaseUnavailable } from "./unavailable.ts";

/**
 * Runs `work` on a connection of its own from the pool. While a connection is checked out the pool stops listening to
 * it, and `pg` turns an error the connection then emits (its backend terminated, the server restarting or failing
 * over mid-transaction) into an uncaught exception that ends the process, every user's requests and stdio children
 * with it. So a listener is attached for as long as `work` runs, and a connection that failed, that `work` reports
 * broken through `broken`, or whose work failed for the database being unavailable (a query timed out, whose
 * statement may still run there) is destroyed instead of returned to the pool.
 */
export async function withConnection<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, broken: (error: Error) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let failed: Error | undefined;
  const broken = (error: Error) => {
    failed ??= error;
  };
  client.on("error", broken);
  try {
    return await work(client, broken);
  } catch (error) {
    // A query the client stopped waiting for may still run on this connection: it is not handed to the next caller.
    if (isDatabaseUnavailable(error)) broken(error as Error);
    throw error;
  } finally {
    client.off("error", broken);
    client.release(failed);
  }
}
