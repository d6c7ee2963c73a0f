import { createHash } from "node:crypto";
import type { UpstreamServer } from "../../../contract/config/schema.ts";
import {
  type BreakerSettings,
  CircuitBreaker,
  type CircuitObserver,
  CircuitOpen,
  type UpstreamHealth,
} from "./circuit-breaker.ts";
import { envSecretsFingerprint } from "./env-secrets-fingerprint.ts";
import { failureKind, failureText } from "./failure-text.ts";
import { type Caller, type HostOptions, OriginStopping, startUpstreamHost, type UpstreamHost } from "./upstream-host.ts";
import type { ChildObserver } from "./upstream-transport.ts";

/** A request the pool cannot serve, with the HTTP status, a message that says what to do, and when to try again. */
export class HostingError extends Error {
  readonly status: 404 | 503;
  readonly retryAfterSeconds?: number;
  constructor(status: 404 | 503, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = "HostingError";
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface HostPoolOptions {
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
  /** When an upstream connection keeps failing, how long requests for it are refused at once (absent: never). */
  breaker?: BreakerSettings;
  /** The observer of one server's circuits (the origin's metrics). */
  circuits?: (server: string) => CircuitObserver;
  log: (line: string) => void;
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

  const isIdle = (entry: Entry): entry is StartedEntry => entry.host !== undefined && entry.host.active === 0;
  const awaitsClient = (entry: StartedEntry) => entry.host.awaitingClient() > 0;

  function stop(key: string, entry: StartedEntry, why: string): Promise<void> {
    hosts.delete(key);
    options.log(`stopping ${why} ${describe(key)}`);
    return entry.host.close().catch((error: unknown) => options.log(`stopping ${describe(key)} failed: ${failureText(error)}`));
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
        options.log(`${describe(key)}: a secret in its environment was rotated; it is replaced once idle`);
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

  function roomForOneMore(forListen: boolean): Promise<void> {
    if (hosts.size < options.maxProcesses) return Promise.resolve();
    const evicted = evictLeastRecentlyUsed(forListen);
    if (evicted) return evicted;
    throw new HostingError(
      503,
      `the origin already runs its limit of ${options.maxProcesses} upstream connections (stdio children and HTTP sessions together, setting stdio.maxProcesses), all of them busy; try again shortly, or raise stdio.maxProcesses`,
    );
  }

  function start(key: string, spec: UpstreamServer, server: string, caller: Caller, forListen: boolean): Entry {
    const room = roomForOneMore(forListen);
    options.log(`starting ${describe(key)}`);
    const log = (line: string) => options.log(`${describe(key)}: ${line}`);
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
          return options.log(`${describe(key)}: its start was given up (the origin is stopping)`);
        options.log(`${describe(key)} failed to start: ${failureText(error)}`);
        // The circuit's refusal reaches every caller of the connection (each user of a shared server): its kind only.
        const kind = failureKind(error);
        health.failed(kind ? `could not be started: ${kind}` : "could not be started");
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
    const entry = existing ?? start(key, spec, server, caller, forListen);
    return { entry, probe: user === undefined ? probe : [probe, user] };
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

/**
 * A probe of a connection's circuit, or on a shared connection the probes of its circuit and of the user's own
 * circuit on it (either may be absent).
 */
type Probe = number | [number | undefined, number | undefined];

/**
 * One circuit breaker per upstream connection (a user's, or a shared server's), so one user's failing child never
 * stops another user's. A shared server's connection serves every user: its circuit counts each of the connection's own
 * failures (it could not be reached or started), while a failure of one request (a timeout, an error status, the
 * connection closing under it: a child that exited on its input, an answer over the bound) counts in the circuit of
 * that user on it, which refuses that user alone, and in the shared circuit once per user until the connection answers
 * again. A closing is one failure however many calls it ended: once in the circuit of each user whose calls it ended
 * (which of them caused it cannot be told), and in the shared circuit only when none of them has a failure counted
 * there already, so one user whose input makes the child exit, with others' calls in flight each time, counts once. So
 * one user's slow or failing requests cannot switch the server off for all, yet an upstream that fails everyone's
 * requests (an HTTP server whose gateway answers 502/503/504, a child that dies on every call) opens the shared circuit
 * after `breaker.failures` distinct users in a row (two at least), and stops taking their load. Only circuits with
 * failures are remembered, and one nobody tries for `idleTimeoutMs` is forgotten.
 */
export function upstreamCircuits(options: Pick<HostPoolOptions, "breaker" | "circuits" | "log">) {
  const circuits = new Map<string, CircuitBreaker>();
  /** Per shared connection, the users whose failed requests it counted since it last answered. */
  const failingUsers = new Map<string, Set<string>>();
  /** When each shared connection last had a user's failure counted: its failing users are forgotten by age. */
  const lastCounted = new Map<string, number>();
  /** Per closing, the circuits it was counted in: one closing ends every call in flight, and is one failure. */
  const closingCircuits = new WeakMap<object, Set<string>>();
  /** Closings of a shared connection already decided for its shared circuit (by the first call to report). */
  const sharedClosings = new WeakSet<object>();

  /** Whether a failure counts in the circuit `key`: always, but a closing only the first time. */
  function firstOfClosing(key: string, closing: object | undefined): boolean {
    if (!closing) return true;
    const counted = closingCircuits.get(closing) ?? new Set<string>();
    closingCircuits.set(closing, counted);
    if (counted.has(key)) return false;
    counted.add(key);
    return true;
  }

  function admit(key: string, name: string, server: string): number | undefined {
    try {
      return circuits.get(key)?.admit(name);
    } catch (error) {
      if (!(error instanceof CircuitOpen)) throw error;
      options.circuits?.(server).refused();
      throw new HostingError(503, error.message, error.retryAfterSeconds);
    }
  }

  function closed(key: string): void {
    const circuit = circuits.get(key);
    if (!circuit) return;
    const wasOpen = circuit.open;
    circuit.succeeded();
    // A closed circuit without failures is the same as none: forgotten, so only failing upstreams take memory.
    circuits.delete(key);
    if (wasOpen) options.log(`${describe(key)} answers again: requests for it go through`);
  }

  function count(key: string, server: string, reason: string): void {
    if (!options.breaker || options.breaker.failures === 0) return;
    const circuit = circuits.get(key) ?? new CircuitBreaker(options.breaker);
    circuits.set(key, circuit);
    if (!circuit.failed(reason)) return;
    options.circuits?.(server).opened();
    options.log(
      `${describe(key)} failed ${options.breaker.failures} or more times in a row (last: ${reason}): requests for it are refused for ${options.breaker.openMs / 1000} s`,
    );
  }

  /**
   * Whether a failure of these users' requests counts in the shared circuit: when none of them has one counted there
   * since it last answered. With `failures` 1 the first would open it alone, so there it waits for another user's.
   */
  function countsShared(key: string, failed: Iterable<string>): boolean {
    const users = failingUsers.get(key) ?? new Set<string>();
    failingUsers.set(key, users);
    lastCounted.set(key, Date.now());
    const before = users.size;
    let counts = true;
    for (const user of failed) {
      if (users.has(user)) counts = false;
      users.add(user);
    }
    return counts && (before >= 1 || (options.breaker?.failures ?? 0) >= 2);
  }

  /**
   * A closing of a shared connection, reported by each call it ended: decided once, with all their users. While the
   * shared circuit is open the failure is its probe's, and counts whoever's it is: a failed probe opens it again for
   * `openMs` (counted once per user, it gave its turn back and a dead child was started for each next request).
   */
  function sharedClosing(key: string, server: string, reason: string, closing: object, users: readonly string[]): void {
    if (sharedClosings.has(closing)) return;
    sharedClosings.add(closing);
    if (circuits.get(key)?.open || countsShared(key, users)) count(key, server, reason);
  }

  return {
    admit: (key: string, server: string) => admit(key, `server "${server}"`, server),
    /** The user's own circuit on a shared connection; a refusal gives back the shared circuit's probe. */
    admitUser(key: string, user: string, server: string, probe: number | undefined): number | undefined {
      try {
        return admit(userKey(key, user), `server "${server}" (your requests on it)`, server);
      } catch (error) {
        if (probe !== undefined) circuits.get(key)?.probeEnded(probe);
        throw error;
      }
    },
    probeEnded(key: string, probe: Probe, user: string): void {
      const [own, users] = Array.isArray(probe) ? probe : [probe, undefined];
      if (own !== undefined) circuits.get(key)?.probeEnded(own);
      if (users !== undefined) circuits.get(userKey(key, user))?.probeEnded(users);
    },
    /** Forgets circuits nobody has tried for this long. */
    forgetQuiet(ms: number): void {
      for (const [key, circuit] of circuits) if (circuit.quietFor() > ms) circuits.delete(key);
      // By age, not by the circuit's absence: with breakerFailures 1 the first user's failure makes no circuit.
      for (const key of failingUsers.keys()) {
        if (circuits.has(key) || Date.now() - (lastCounted.get(key) ?? 0) <= ms) continue;
        failingUsers.delete(key);
        lastCounted.delete(key);
      }
    },
    healthOf(key: string, server: string, shared: boolean): UpstreamHealth {
      if (!shared)
        return {
          succeeded: () => closed(key),
          failed: (reason, request) => {
            if (firstOfClosing(key, request?.closing)) count(key, server, reason);
          },
        };
      return {
        succeeded(user) {
          closed(key);
          failingUsers.delete(key);
          lastCounted.delete(key);
          if (user !== undefined) closed(userKey(key, user));
        },
        failed(reason, request) {
          if (!request || request.scope === "connection") return count(key, server, reason);
          const own = userKey(key, request.user);
          if (firstOfClosing(own, request.closing)) count(own, server, reason);
          if (request.closing) sharedClosing(key, server, reason, request.closing, request.users ?? [request.user]);
          else if (circuits.get(key)?.open || countsShared(key, [request.user])) count(key, server, reason);
        },
      };
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

/** Who a shared connection belongs to in the pool's keys: nobody in particular. */
const EVERY_USER = "*";

/** One connection per server, user (or every user, when shared) and client era (a 2025-era client gets the upstream's 2025 protocol). */
const keyOf = (server: string, spec: UpstreamServer, caller: Caller) =>
  `${server}\u0000${spec.sharing === "shared" ? EVERY_USER : caller.sub}\u0000${caller.era}`;

/** The circuit of one user's requests on a shared connection. */
const userKey = (key: string, user: string) => `${key}\u0000${user}`;

/** Names a host (or a user's circuit on a shared one) in logs without the user's identity: a stable pseudonym of their id. */
function describe(key: string): string {
  const [server, owner = "", era, user] = key.split("\u0000");
  const pseudonym = (id: string) => `user ${createHash("sha256").update(id).digest("hex").slice(0, 8)}`;
  const who = owner === EVERY_USER ? "every user" : pseudonym(owner);
  const whose = user === undefined ? "" : `, requests of ${pseudonym(user)}`;
  return `${server} [${who}${era === "legacy" ? ", 2025 client" : ""}${whose}]`;
}
