import pg from "pg";

export interface PoolOptions {
  /** Most connections held open at once (default 10). Use `EMBEDDED_POOL_MAX` for the embedded database. */
  max?: number;
  /**
   * Called when a connection that sits idle in the pool fails (the server restarted, an RDS
   * failover, a network drop). The pool has already discarded it and opens a new one on the next
   * query; without any listener, `pg` would turn this into an uncaught exception.
   */
  onIdleClientError?: (error: Error) => void;
}

/** A query that has not answered after this long fails (a stalled database must not hang requests). */
export const QUERY_TIMEOUT_MS = 10_000;

/** Shown in `pg_stat_activity.application_name`, so the origin's sessions are easy to find. */
export const APPLICATION_NAME = "mcp-edge-proxy-origin";

/**
 * The origin's connection pool.
 *
 * TLS follows the URL, parsed by `pg` (pg-connection-string): `sslmode=require` turns TLS on.
 * RDS must be reached over TLS (set `rds.force_ssl`), and note that `pg` 8 treats `require` like
 * `verify-full`: the server certificate must chain to a trusted CA and match the host name. The
 * RDS CA is not in Node's default store, so give it the AWS bundle, either in the URL
 * (`?sslmode=verify-full&sslrootcert=/path/global-bundle.pem`) or through `NODE_EXTRA_CA_CERTS`.
 */
export function createPool(databaseUrl: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    application_name: APPLICATION_NAME,
    max: options.max ?? 10,
    // Fail a request rather than hang when the database cannot be reached, or stalls on a query.
    connectionTimeoutMillis: 10_000,
    query_timeout: QUERY_TIMEOUT_MS,
    // Give idle connections back to the server after a while.
    idleTimeoutMillis: 30_000,
    // Replace connections now and then, so that after an RDS failover or a DNS change every one
    // of them ends up on the current primary.
    maxLifetimeSeconds: 30 * 60,
    // Notice dead peers (e.g. after a failover) on connections that wait for a long query.
    keepAlive: true,
  });
  const onIdleClientError = options.onIdleClientError ?? (() => {});
  pool.on("error", (error) => onIdleClientError(error));
  return pool;
}
