import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { lockDataDir } from "./data-dir-lock.ts";

/**
 * The largest `pg.Pool` that may be pointed at the embedded database.
 *
 * PGlite is ONE Postgres backend. pglite-socket lets several connections in and feeds their
 * protocol messages to that one backend through a queue: it keeps an explicit transaction
 * (BEGIN … COMMIT) on its own connection, but it does not keep an extended-protocol query
 * (Parse, Bind, Execute, Sync) together. When such a query is larger than one TCP read (roughly
 * 64 KiB, e.g. a big audit batch), another connection's messages can land between its Parse and
 * its Bind. The unnamed prepared statement is then overwritten and the query fails ("bind message
 * supplies 2 parameters, but prepared statement "" requires 1") or, worse, runs the wrong one.
 * A connection's own messages never interleave, so the origin keeps ONE connection and its pool
 * queues the callers; other clients (psql, a test's second pool) should stay occasional and small.
 *
 * It also follows that every connection through the embedded server shares one session: SET,
 * temporary tables and session advisory locks are that backend's, so advisory locks exclude
 * nothing between connections here (they do on a real server). Startup parameters such as
 * `application_name` are ignored.
 */
export const EMBEDDED_POOL_MAX = 1;

/**
 * How many connections the embedded server accepts at once: the origin's pool plus a few
 * occasional clients (psql, a migration run, tests). Keep each such client's pool at
 * {@link EMBEDDED_POOL_MAX}.
 */
export const EMBEDDED_MAX_CONNECTIONS = 8;

export interface EmbeddedPostgresOptions {
  /** Directory holding the database files; created if missing, reused on the next start. */
  dataDir: string;
  /** TCP port to listen on; 0 lets the system pick a free one (read it back from `url`). */
  port: number;
  /** Interface to listen on; loopback by default, and it should stay so. */
  host?: string;
}

export interface EmbeddedPostgres {
  /** `postgres://postgres@<host>:<port>/postgres`, for `pg` like any other server. */
  url: string;
  /** Stops accepting connections, closes the open ones, and shuts PGlite down cleanly. */
  close(): Promise<void>;
}

/**
 * PGlite (Postgres compiled to WebAssembly, in this process) served over the Postgres wire
 * protocol, so that the origin reaches it with plain `pg` exactly as it reaches RDS.
 *
 * Only one process may use a data directory at a time, and PGlite does not lock it: this process
 * takes the folder's lock file first (data-dir-lock.ts), so a second copy of the local system on
 * the same folder stops there, whatever its ports, without touching the first one's files. The port
 * is checked before that.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const host = options.host ?? "127.0.0.1";
  const { port, dataDir } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${port}`);
  }

  if (port !== 0) await assertPortFree(host, port);

  await mkdir(dataDir, { recursive: true });
  const unlock = await lockDataDir(dataDir);
  let db: PGlite | undefined;
  let server: PGLiteSocketServer;
  try {
    db = await PGlite.create({ dataDir });
    server = new PGLiteSocketServer({ db, host, port, maxConnections: EMBEDDED_MAX_CONNECTIONS });
    await server.start();
  } catch (error) {
    await db?.close();
    await unlock();
    throw isAddressInUse(error) ? portInUseError(host, port, error) : error;
  }

  // After start() the server reports the port it really listens on (the system's pick for 0).
  const actualPort = Number(server.getServerConn().split(":").pop());
  const urlHost = host.includes(":") ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `postgres://postgres@${urlHost}:${actualPort}/postgres`,
    close() {
      closing ??= (async () => {
        await server.stop();
        await db.close();
        await unlock();
      })();
      return closing;
    },
  };
}

async function assertPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (error) => reject(isAddressInUse(error) ? portInUseError(host, port, error) : error));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "EADDRINUSE";
}

function portInUseError(host: string, port: number, cause: unknown): Error {
  return new Error(
    `port ${port} is already in use on ${host}, so the embedded PostgreSQL cannot listen there: ` +
      "another copy of the local system (or another PostgreSQL server) may be running. Stop it, " +
      "choose another port, or set DATABASE_URL to use a running server.",
    { cause },
  );
}
