import type { UpstreamServer } from "../../../contract/config/schema.ts";
import { type CircuitOptions, type Probe, upstreamCircuits } from "./circuits.ts";
import { envSecretsFingerprint } from "./env-secrets-fingerprint.ts";
import { failureKind, failureText } from "./failure-text.ts";
import { HostingError } from "./hosting-error.ts";
import { describeKey, keyOf } from "./pool-keys.ts";
import { type Caller, type HostOptions, OriginStopping, startUpstreamHost, type UpstreamHost } from "./upstream-host.ts";
import type { ChildObserver } from "./upstream-transport.ts";

/** Why the pool refused a new upstream connection: every one busy, or the user held their share of a nearly full pool. */
export type PoolRefusal = "full" | "user_share";

export interface HostPoolOptions extends CircuitOptions {
  servers: Record<string, UpstreamServer>;
  /** How each host forwards (request-state codec, timeouts). */
  host: Omit<HostOptions, "log" | "children" | "shared" | "stopping">;
  /** The observer of one server's stdio children (the origin's metrics). */
  children?: (server: string) => ChildObserver;
  idleTimeoutMs: number;
  /**
   * How often the secrets named in stdio children's `env` are read again (default 60 s; the provider's own cache
   * decides when its backend is asked). A child started with a value since rotated is replaced at its next idle
   * moment, or stopped at the latest `idleTimeoutMs` after the rotation was seen.
   */
  rotationCheckMs?: number;
  /** Upstream connections at once; at the bound the least recently used idle one is stopped for a new one. */
  maxProcesses: number;
  /** Told of each new connection refused for the bound (the origin's metrics). */
  poolRefused?: (server: string, reason: PoolRefusal) => void;
}

export interface HostPool {
  /**
   * The user's own host for this server, started if needed. It counts as busy (never reaped nor evicted) until
   * `release` is called, or until `listening` turns the hold into a listen's (`forListen`: a listen starting a host
   * takes a free slot or an idle host's, never a listening one's).
   */
  acquire(server: string, caller: Caller, use?: { forListen?: boolean }): Promise<Acquired>;
  /** Whether this server is configured here. */
  serves(server: string): boolean;
  /** Upstream connections open or starting, of every transport (what `maxProcesses` bounds). */
  size(): number;
  /** The process ids of the started stdio children (for operators and tests: which instance holds whose child). */
  pids(): number[];
  /**
   * Stops every upstream connection, those still in their handshake included (given up at once, not waited on), and
   * waits for their stdio children to exit.
   */
  close(): Promise<void>;
}

export interface Acquired {
  host: UpstreamHost;
  release: () => void;
  /**
   * Releases the busy hold for a `subscriptions/listen` stream's (call the result when the stream ends). A host with
   * only listens on it is not reaped (its notifications go on flowing) but may be evicted to make room for another
   * user's request, its listens then ending (their clients listen again): an open listen must not hold a child for
   * good, or a few listening clients fill `stdio.maxProcesses` and every other user is refused.
   */
  listening: () => () => void;
}

/** A host starting (`host` unset) or started. A starting host counts as busy: it is never evicted. */
interface Entry {
  key: string;
  server: string;
  /** Whose connection it is (absent: a shared server's, every user's). */
  user?: string;
  /** Open `subscriptions/listen` streams on it, which keep it from the idle reaper but not from eviction. */
  listens: number;
  pending: Promise<UpstreamHost>;
  host?: UpstreamHost;
  /** The digest of the secrets its child's environment was read from (envSecretsFingerprint), if it names any. */
  secrets?: string;
  /** Since when a secret of its environment is known to be rotated: it is replaced at its next idle moment. */
  rotatedSince?: number;
}

type StartedEntry = Entry & { host: UpstreamHost };

const DEFAULT_ROTATION_CHECK_MS = 60_000;

/** How often refusals for the bound on connections are logged (each is counted). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * One upstream connection per user and server (for stdio, one child process), so credentials and state
 * never mix between users; one for all users where the server is configured `sharing: "shared"`.
 * Idle connections are stopped; at the bound on connections (`maxProcesses`, which counts HTTP sessions as well as
 * stdio children) the least recently used idle one makes room; a crashed child is forgotten and the next request
 * starts a new one; a child whose environment holds a secret since rotated is replaced.
 */
export function createHostPool(options: HostPoolOptions): HostPool {
  const hosts = new Map<string, Entry>();
  const circuits = upstreamCircuits(options);
  const stopping = new AbortController();
  const reaper = setInterval(reapIdle, Math.min(options.idleTimeoutMs / 2, 30_000));
  reaper.unref();
  const rotationCheck = setInterval(() => void retireRotated(), options.rotationCheckMs ?? DEFAULT_ROTATION_CHECK_MS);
  rotationCheck.unref();
  let checkingRotation = false;
  let lastRefusalLogged = Number.NEGATIVE_INFINITY;
  let refusedSinceLogged = 0;

  const isIdle = (entry: Entry): entry is StartedEntry => entry.host !== undefined && entry.host.active === 0;
  const awaitsClient = (entry: StartedEntry) => entry.host.awaitingClient() > 0;

  function stop(key: string, entry: StartedEntry, why: string): Promise<void> {
    hosts.delete(key);
    options.log(`stopping ${why} ${describeKey(key)}`);
    return entry.host
      .close()
      .catch((error: unknown) => options.log(`stopping ${describeKey(key)} failed: ${failureText(error)}`));
  }

  /** Stops a child whose secrets were rotated if nothing is in flight on it or waits for its user; whether it did. */
  function replaceIfFree(key: string, entry: Entry): boolean {
    if (entry.rotatedSince === undefined || !isIdle(entry) || awaitsClient(entry) || hosts.get(key) !== entry) return false;
    void stop(key, entry, "with a rotated secret");
    return true;
  }

  function reapIdle(): void {
    circuits.forgetQuiet(options.idleTimeoutMs);
    const now = Date.now();
    for (const [key, entry] of hosts) {
      if (replaceIfFree(key, entry)) continue;
      if (!isIdle(entry) || awaitsClient(entry)) {
        // A rotated child kept busy (a long call) is cut once the rotation is that old; one holding
        // a call that waits for its user's answer is not (the answer would find nobody): it goes once that call ends.
        const due = entry.rotatedSince !== undefined && now - entry.rotatedSince > options.idleTimeoutMs;
        if (due && entry.host && entry.host.awaitingClient() === 0)
          void stop(key, entry as StartedEntry, "with a rotated secret, busy since the rotation");
        continue;
      }
      if (entry.listens === 0 && now - entry.host.lastUsed > options.idleTimeoutMs) void stop(key, entry, "idle");
    }
  }

  /** Marks the children whose environment holds a secret since rotated; the idle ones are replaced at once. */
  async function retireRotated(): Promise<void> {
    if (checkingRotation) return;
    checkingRotation = true;
    try {
      const current = new Map<string, Promise<string | undefined>>();
      for (const [key, entry] of [...hosts]) {
        if (entry.secrets === undefined || entry.rotatedSince !== undefined) continue;
        const spec = options.servers[entry.server];
        if (!spec) continue;
        if (!current.has(entry.server)) current.set(entry.server, fingerprintOf(spec));
        const now = await current.get(entry.server);
        // Unreadable now (the backend down): the child keeps what it has.
        if (now === undefined || now === entry.secrets || hosts.get(key) !== entry) continue;
        entry.rotatedSince = Date.now();
        options.log(`${describeKey(key)}: a secret in its environment was rotated; it is replaced once idle`);
        replaceIfFree(key, entry);
      }
    } finally {
      checkingRotation = false;
    }
  }

  /** The digest of a server's secrets as they are now; undefined when they cannot be read just now. */
  const fingerprintOf = (spec: UpstreamServer) => envSecretsFingerprint(spec, options.host.secrets).catch(() => undefined);

  /**
   * Stops the least recently used idle host to make room; undefined when every host is busy. A host with listens on it
   * goes only when no quiet one can (its listens end, and their clients listen again), and never for another listen:
   * listens evicting each other would restart children without end. A host holding a call that waits for its user's
   * answer goes last: stopping it fails that call (cleanly, on the retry).
   */
  function evictLeastRecentlyUsed(forListen: boolean): Promise<void> | undefined {
    // The map is kept in order of last use (see `touch`): the first idle host is the least recently used.
    let listening: [string, StartedEntry] | undefined;
    let waiting: [string, StartedEntry] | undefined;
    for (const [key, entry] of hosts) {
      if (!isIdle(entry)) continue;
      if (awaitsClient(entry)) waiting ??= [key, entry];
      else if (entry.listens === 0) return stop(key, entry, "least recently used");
      else if (!forListen) listening ??= [key, entry];
    }
    if (listening) return stop(listening[0], listening[1], "least recently used (its listens end)");
    return waiting && stop(waiting[0], waiting[1], "least recently used (a call of its user's was waiting for an answer)");
  }

  /** Moves a host to the end of the map: the map's order is the order of last use. */
  function touch(entry: Entry): void {
    if (hosts.get(entry.key) !== entry) return;
    hosts.delete(entry.key);
    hosts.set(entry.key, entry);
  }

  function roomForOneMore(forListen: boolean, server: string): Promise<void> {
    if (hosts.size < options.maxProcesses) return Promise.resolve();
    const evicted = evictLeastRecentlyUsed(forListen);
    if (evicted) return evicted;
    refused(server, "full", `all ${options.maxProcesses} upstream connections are busy`);
    throw new HostingError(
      503,
      `the origin already runs its limit of ${options.maxProcesses} upstream connections (stdio children and HTTP sessions together, setting stdio.maxProcesses), all of them busy; try again shortly, or raise stdio.maxProcesses`,
    );
  }

  /**
   * Once three quarters of `maxProcesses` are taken, a user who holds their share of them busy starts no more: the
   * rest is kept for other users, or one user's long calls on many servers would leave everyone else a 503 (s23 hunt
   * isolation N5). The share is a quarter of them, or one per configured server if that is more (an /mcp client
   * reaches every server at once); below three quarters, one user may take as many as they need.
   */
  function withinUsersShare(user: string | undefined, server: string): void {
    const max = options.maxProcesses;
    if (user === undefined || hosts.size < Math.ceil((max * 3) / 4)) return;
    const share = Math.max(1, Math.floor(max / 4), Object.keys(options.servers).length);
    let busy = 0;
    for (const entry of hosts.values()) if (entry.user === user && !isIdle(entry)) busy++;
    if (busy < share) return;
    refused(server, "user_share", `a user already holds their share (${share}) of the ${max} upstream connections busy`);
    throw new HostingError(
      503,
      `you already hold ${busy} of this origin's ${max} upstream connections busy (stdio.maxProcesses), and most of the rest are taken: what is left is kept for other users; try again once one of your calls ends`,
    );
  }

  /**
   * Counts a new connection refused for the bound, and says so in the log at most once a minute (with how many since):
   * the caller's 503 alone would leave the operator a ServerErrorRate with no cause.
   */
  function refused(server: string, reason: PoolRefusal, why: string): void {
    options.poolRefused?.(server, reason);
    refusedSinceLogged++;
    if (Date.now() - lastRefusalLogged < REFUSAL_LOG_INTERVAL_MS) return;
    options.log(
      `refused ${refusedSinceLogged} new upstream connection(s) since the last such line (latest for server "${server}": ${why}); raise stdio.maxProcesses if this recurs (docs/scaling.md)`,
    );
    lastRefusalLogged = Date.now();
    refusedSinceLogged = 0;
  }

  function start(key: string, spec: UpstreamServer, server: string, caller: Caller, forListen: boolean): Entry {
    const user = spec.sharing === "shared" ? undefined : caller.sub;
    withinUsersShare(user, server);
    const room = roomForOneMore(forListen, server);
    options.log(`starting ${describeKey(key)}`);
    const log = (line: string) => options.log(`${describeKey(key)}: ${line}`);
    const health = circuits.healthOf(key, server, spec.sharing === "shared");
    const hostOptions = {
      ...options.host,
      log,
      health,
      children: options.children?.(server),
      shared: spec.sharing === "shared",
      stopping: stopping.signal,
    };
    // The slot is taken at once; the new child spawns once the evicted one has exited, so the bound holds. The
    // secrets' digest is taken before the child reads them (the provider's cache answers the second read): a rotation
    // between the two replaces it once too often, never too few times; a secret that cannot be read starts no child.
    const entry: Entry = {
      key,
      server,
      user,
      listens: 0,
      pending: room.then(async () => {
        entry.secrets = await envSecretsFingerprint(spec, options.host.secrets);
        return startUpstreamHost(spec, hostOptions, caller);
      }),
    };
    hosts.set(key, entry);
    entry.pending.then(
      (host) => {
        // A start that worked closes no circuit: only an answered request does (a child may start, then fail every call).
        entry.host = host;
        host.closed.then(() => hosts.get(key) === entry && hosts.delete(key));
      },
      (error: unknown) => {
        if (hosts.get(key) === entry) hosts.delete(key);
        // Given up because the origin stops: no fault of the upstream's, so its circuit does not count it.
        if (error instanceof OriginStopping)
          return options.log(`${describeKey(key)}: its start was given up (the origin is stopping)`);
        options.log(`${describeKey(key)} failed to start: ${failureText(error)}`);
        // The circuit's refusal reaches every caller of the connection (each user of a shared server): its kind only.
        const kind = failureKind(error);
        // The operator's line when the circuit opens says what the start failed on (a missing binary, its exit).
        health.failed(
          kind ? `could not be started: ${kind}` : "could not be started",
          undefined,
          `could not be started: ${failureText(error)}`,
        );
      },
    );
    return entry;
  }

  /** The caller's connection to the server, started if needed, unless its circuit refuses; and the probe it may be. */
  function entryFor(server: string, caller: Caller, forListen: boolean): { entry: Entry; probe?: Probe } {
    const spec = options.servers[server];
    if (!spec) {
      const known = Object.keys(options.servers).join(", ") || "none";
      throw new HostingError(404, `unknown server "${server}"; this origin serves: ${known}`);
    }
    const key = keyOf(server, spec, caller);
    const existing = hosts.get(key) ?? legacyUpstreamOfModernClients(server, spec, caller);
    // Refused before anything starts: a connection whose circuit is open is neither spawned nor used; on a shared
    // one, neither is it by a user whose own requests on it keep failing.
    const connection = existing?.key ?? key;
    const probe = circuits.admit(connection, server);
    const user = spec.sharing === "shared" ? circuits.admitUser(connection, caller.sub, server, probe) : undefined;
    const admitted: Probe | undefined = user === undefined ? probe : [probe, user];
    if (existing) return { entry: existing, probe: admitted };
    try {
      return { entry: start(key, spec, server, caller, forListen), probe: admitted };
    } catch (error) {
      // Refused by the pool's bound before anything started: the probe never reached the upstream, so the next
      // request gets the turn, instead of the circuit refusing everyone for another open time.
      if (admitted !== undefined) circuits.probeEnded(connection, admitted, caller.sub);
      throw error;
    }
  }

  /**
   * A 2025-era client may use the connection opened for the user's modern clients when the upstream answered it in
   * the 2025 protocol anyway (it speaks no other): the connection is then the one the 2025-era client would get.
   */
  function legacyUpstreamOfModernClients(server: string, spec: UpstreamServer, caller: Caller): Entry | undefined {
    if (caller.era !== "legacy") return undefined;
    const modern = hosts.get(keyOf(server, spec, { ...caller, era: "modern" }));
    return modern?.host?.era === "legacy" ? modern : undefined;
  }

  return {
    async acquire(server, caller, use = {}) {
      const { entry, probe } = entryFor(server, caller, use.forListen === true);
      // A started host is marked busy before anything else runs, so no eviction can pick it meanwhile.
      const host = entry.host ?? (await started(entry, server));
      host.active++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        host.active--;
        host.lastUsed = Date.now();
        touch(entry);
        replaceIfFree(entry.key, entry);
        // A probe that never reached the upstream (a discovery, an approval round) gives the next request its turn.
        if (probe !== undefined) circuits.probeEnded(entry.key, probe, caller.sub);
      };
      const listening = () => {
        entry.listens++;
        release();
        let ended = false;
        return () => {
          if (ended) return;
          ended = true;
          entry.listens--;
          host.lastUsed = Date.now();
        };
      };
      return { host, release, listening };
    },
    serves: (server) => Object.hasOwn(options.servers, server),
    size: () => hosts.size,
    pids: () => [...hosts.values()].flatMap((entry) => (typeof entry.host?.pid === "number" ? [entry.host.pid] : [])),
    async close() {
      clearInterval(reaper);
      clearInterval(rotationCheck);
      stopping.abort();
      const all = [...hosts.values()];
      hosts.clear();
      await Promise.allSettled(all.map(async (entry) => (await entry.pending).close()));
    },
  };
}

async function started(entry: Entry, server: string): Promise<UpstreamHost> {
  try {
    return await entry.pending;
  } catch (error) {
    throw new HostingError(503, `server "${server}" could not be started: ${failureText(error)}`);
  }
}
