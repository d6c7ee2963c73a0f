import { readFileSync } from "node:fs";
import pg from "pg";
import type { RotatingPassword } from "./rotating-password.ts";

export interface PoolOptions {
  /** Most connections held open at once (default 10). Use `EMBEDDED_POOL_MAX` for the embedded database. */
  max?: number;
  /**
   * Called when a connection that sits idle in the pool fails (the server restarted, an RDS
   * failover, a network drop). The pool has already discarded it and opens a new one on the next
   * query; without any listener, `pg` would turn this into an uncaught exception.
   */
  onIdleClientError?: (error: Error) => void;
  /**
   * How long one statement may run, waiting for locks included, before the server cancels it (SQLSTATE 57014, which
   * callers answer as the database being unavailable); the client stops waiting a second later. 0 for no bound:
   * migrations, whose index builds on a large table take minutes. Default {@link STATEMENT_TIMEOUT_MS}.
   */
  statementTimeoutMs?: number;
  /**
   * The login's password when it rotates (the origin's role on AWS, DATABASE_PASSWORD_SECRET): read as each connection
   * opens, and a connection refused its password (SQLSTATE 28P01) tries once more if another one is then in use.
   * Unset: the password is the URL's or PGPASSWORD, fixed.
   */
  password?: RotatingPassword;
}

/**
 * A statement still running after this long is cancelled by the server (a stalled database must not hang requests).
 * The server's bound is what matters: a client that only stops waiting leaves its statement running on the server
 * (on a lock, say) and throws the connection away, and each retry then opens another one beside it, past the pool's
 * size and the alarm's sum.
 */
export const STATEMENT_TIMEOUT_MS = 9_000;
/** The client stops waiting this long after the server should have cancelled (a server that does not answer at all). */
const CLIENT_GRACE_MS = 1_000;
/** A transaction left open this long without a statement is ended by the server, its locks released. */
const IDLE_IN_TRANSACTION_MS = 60_000;

/** Shown in `pg_stat_activity.application_name`, so the origin's sessions are easy to find. */
export const APPLICATION_NAME = "mcp-edge-proxy-origin";

/**
 * The origin's connection pool.
 *
 * TLS follows the URL, parsed by `pg` (pg-connection-string): `sslmode=require` turns TLS on.
 * RDS must be reached over TLS (set `rds.force_ssl`), and note that `pg` 8 treats `require` like
 * `verify-full`: the server certificate must chain to a trusted CA and match the host name. The
 * RDS CA is not in Node's default store, so give the pool the AWS bundle, either in the URL
 * (`?sslmode=verify-full&sslrootcert=/path/global-bundle.pem`) or, with a URL that leaves TLS to the
 * environment, through `PGSSLMODE` and `PGSSLROOTCERT` (see {@link sslFromEnvironment}). Never through
 * `NODE_EXTRA_CA_CERTS`: that would make every TLS client of the process trust the RDS CAs.
 */
export function createPool(databaseUrl: string, options: PoolOptions = {}): pg.Pool {
  const statementMs = options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS;
  const config: pg.PoolConfig = {
    connectionString: databaseUrl,
    // Settings the URL names (sslmode, sslrootcert) replace this one: pg applies the parsed URL over these options.
    ...sslFromEnvironment(process.env),
    application_name: APPLICATION_NAME,
    max: options.max ?? 10,
    // Fail a request rather than hang when the database cannot be reached, or stalls on a query.
    connectionTimeoutMillis: 10_000,
    ...(statementMs > 0 && { statement_timeout: statementMs, query_timeout: statementMs + CLIENT_GRACE_MS }),
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    // Give idle connections back to the server after a while.
    idleTimeoutMillis: 30_000,
    // Replace connections now and then, so that after an RDS failover or a DNS change every one
    // of them ends up on the current primary.
    maxLifetimeSeconds: 30 * 60,
    // Notice dead peers (e.g. after a failover) on connections that wait for a long query.
    keepAlive: true,
  };
  const pool = options.password ? new RotatingPasswordPool(config, options.password) : new pg.Pool(config);
  const onIdleClientError = options.onIdleClientError ?? (() => {});
  pool.on("error", (error) => onIdleClientError(error));
  return pool;
}

/** `PGSSLMODE` values with which `pg` itself turns TLS on, verifying the server (pg 8 treats all of them as verify-full). */
const VERIFYING_SSL_MODES = new Set(["prefer", "require", "verify-ca", "verify-full"]);

/**
 * libpq's `PGSSLROOTCERT`, which `pg` does not read itself: the CA file that alone authenticates the database server,
 * for this pool only. Applied when `PGSSLMODE` turns TLS on; the options are then pg's own for those modes (verify the
 * chain and the host name) with that CA instead of Node's default store. Without both, `pg` decides as before.
 */
export function sslFromEnvironment(env: NodeJS.ProcessEnv): { ssl: { ca: string } } | undefined {
  const caFile = env.PGSSLROOTCERT;
  if (!caFile || !VERIFYING_SSL_MODES.has(env.PGSSLMODE ?? "")) return undefined;
  try {
    return { ssl: { ca: readFileSync(caFile, "utf8") } };
  } catch (error) {
    throw new Error(`PGSSLROOTCERT names ${caFile}, which cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
}

/** The SQLSTATE of a login refused for its password. */
const INVALID_PASSWORD = "28P01";

/**
 * A pool whose connections take their password from a {@link RotatingPassword}. `pool.query` connects through
 * `connect(callback)`, so both forms pass through the one retry.
 */
class RotatingPasswordPool extends pg.Pool {
  readonly #password: RotatingPassword;

  constructor(config: pg.PoolConfig, password: RotatingPassword) {
    // On the client, not in the pool's options: pg puts what the URL says (no password) over those.
    const Client = class extends pg.Client {
      constructor(options: pg.ClientConfig) {
        super(options);
        (this as { password?: pg.ClientConfig["password"] }).password = () => password.current();
      }
    };
    // @types/pg declares `Client` without the options pg-pool constructs it with.
    super({ ...config, Client: Client as unknown as pg.PoolConfig["Client"] });
    this.#password = password;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(
    callback: (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): void;
  override connect(
    callback?: (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | undefined {
    const connecting = this.#connectOrRetry();
    if (!callback) return connecting;
    connecting.then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | undefined)),
      (error: Error) => callback(error, undefined, () => {}),
    );
    return undefined;
  }

  async #connectOrRetry(): Promise<pg.PoolClient> {
    const generation = this.#password.generation();
    try {
      return await super.connect();
    } catch (error) {
      if ((error as { code?: unknown }).code !== INVALID_PASSWORD) throw error;
      const another = await this.#password.refused(generation).catch((readError: unknown) => {
        // Its code kept (the password unreadable), the refusal as the cause: either way the database is unavailable.
        const message = `the database refused the password, and reading it again failed: ${(readError as Error).message}`;
        throw Object.assign(new Error(message, { cause: error }), { code: (readError as { code?: unknown }).code });
      });
      if (!another) throw error;
      return super.connect();
    }
  }
}
