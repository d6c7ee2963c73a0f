import type pg from "pg";
import { inTransaction } from "./transaction.ts";

/**
 * Runs one statement that may outlast the pool's bound (`statementTimeoutMs`), under a bound of its own on both sides:
 * the server's (SET LOCAL, this transaction only) and the client's (this query only). For the few statements whose
 * work grows with the data, such as recording a large first purge, where the pool's 9 s would cancel them every time.
 */
export function longStatement<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  text: string,
  values: unknown[],
  timeoutMs: number,
): Promise<pg.QueryResult<R>> {
  return inTransaction(pool, async (client) => {
    await client.query(`SET LOCAL statement_timeout = ${Math.floor(timeoutMs)}`);
    return client.query<R>({ text, values, query_timeout: timeoutMs + 1_000 } as pg.QueryConfig);
  });
}
