import type pg from "pg";

/**
 * Runs `work` on a connection of its own from the pool. While a connection is checked out the pool stops listening to
 * it, and `pg` turns an error the connection then emits (its backend terminated, the server restarting or failing
 * over mid-transaction) into an uncaught exception that ends the process, every user's requests and stdio children
 * with it. So a listener is attached for as long as `work` runs, and a connection that failed, or that `work` reports
 * broken through `broken`, is destroyed instead of returned to the pool.
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
  } finally {
    client.off("error", broken);
    client.release(failed);
  }
}
