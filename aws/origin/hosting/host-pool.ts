import { createHash } from "node:crypto";
import type { UpstreamServer } from "../../../contract/config/schema.ts";
import { type Caller, type HostOptions, startUpstreamHost, type UpstreamHost } from "./upstream-host.ts";
import type { ChildObserver } from "./upstream-transport.ts";

/** A request the pool cannot serve, with the HTTP status and a message that says what to do. */
export class HostingError extends Error {
  readonly status: 404 | 503;
  constructor(status: 404 | 503, message: string) {
    super(message);
    this.name = "HostingError";
    this.status = status;
  }
}

export interface HostPoolOptions {
  servers: Record<string, UpstreamServer>;
  /** How each host forwards (request-state codec, timeouts). */
  host: Omit<HostOptions, "log" | "children">;
  /** The observer of one server's stdio children (the origin's metrics). */
  children?: (server: string) => ChildObserver;
  idleTimeoutMs: number;
  maxProcesses: number;
  log: (line: string) => void;
}

export interface HostPool {
  /** The user's own host for this server, started if needed. It counts as busy (never reaped) until `release` is called. */
  acquire(server: string, caller: Caller): Promise<{ host: UpstreamHost; release: () => void }>;
  /** Running children. */
  size(): number;
  /** Stops every child and waits for them to exit. */
  close(): Promise<void>;
}

/**
 * One upstream connection per user and server (for stdio, one child process), so credentials and state
 * never mix between users.
 * Idle children are stopped; a crashed child is forgotten and the next request starts a new one.
 */
export function createHostPool(options: HostPoolOptions): HostPool {
  const hosts = new Map<string, Promise<UpstreamHost>>();
  const reaper = setInterval(reapIdle, Math.min(options.idleTimeoutMs / 2, 30_000));
  reaper.unref();

  function reapIdle(): void {
    const now = Date.now();
    for (const [key, pending] of hosts) {
      pending.then(
        (host) => {
          if (host.active === 0 && now - host.lastUsed > options.idleTimeoutMs && hosts.get(key) === pending) {
            hosts.delete(key);
            options.log(`stopping idle ${describe(key)}`);
            host.close().catch((error: unknown) => options.log(`stopping ${describe(key)} failed: ${String(error)}`));
          }
        },
        () => {},
      );
    }
  }

  function start(server: string, caller: Caller): Promise<UpstreamHost> {
    const spec = options.servers[server];
    if (!spec) {
      const known = Object.keys(options.servers).join(", ") || "none";
      throw new HostingError(404, `unknown server "${server}"; this origin serves: ${known}`);
    }
    if (hosts.size >= options.maxProcesses) {
      throw new HostingError(
        503,
        `the origin already runs its limit of ${options.maxProcesses} stdio processes (stdio.maxProcesses); try again when idle ones have stopped`,
      );
    }
    const key = keyOf(server, caller);
    options.log(`starting ${describe(key)}`);
    const log = (line: string) => options.log(`${describe(key)}: ${line}`);
    const pending = startUpstreamHost(spec, { ...options.host, log, children: options.children?.(server) }, caller);
    hosts.set(key, pending);
    pending.then(
      (host) => host.closed.then(() => hosts.get(key) === pending && hosts.delete(key)),
      (error: unknown) => {
        hosts.delete(key);
        options.log(`${describe(key)} failed to start: ${String(error)}`);
      },
    );
    return pending;
  }

  return {
    async acquire(server, caller) {
      const pending = hosts.get(keyOf(server, caller)) ?? start(server, caller);
      let host: UpstreamHost;
      try {
        host = await pending;
      } catch (error) {
        throw new HostingError(503, `server "${server}" could not be started: ${(error as Error).message}`);
      }
      host.active++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        host.active--;
        host.lastUsed = Date.now();
      };
      return { host, release };
    },
    size: () => hosts.size,
    async close() {
      clearInterval(reaper);
      const all = [...hosts.values()];
      hosts.clear();
      await Promise.allSettled(all.map(async (pending) => (await pending).close()));
    },
  };
}

/** One connection per server, user and client era (a 2025-era client gets the upstream's 2025 protocol). */
const keyOf = (server: string, caller: Caller) => `${server}\u0000${caller.sub}\u0000${caller.era}`;

/** Names a host in logs without the user's identity: a stable pseudonym of their id. */
function describe(key: string): string {
  const [server, userSub = "", era] = key.split("\u0000");
  return `${server} [user ${createHash("sha256").update(userSub).digest("hex").slice(0, 8)}${era === "legacy" ? ", 2025 client" : ""}]`;
}
