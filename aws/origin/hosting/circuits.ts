import {
  type BreakerSettings,
  CircuitBreaker,
  type CircuitObserver,
  CircuitOpen,
  type UpstreamHealth,
} from "./circuit-breaker.ts";
import { HostingError } from "./hosting-error.ts";
import { describeKey, userKey } from "./pool-keys.ts";

export interface CircuitOptions {
  /** When an upstream connection keeps failing, how long requests for it are refused at once (absent: never). */
  breaker?: BreakerSettings;
  /** The observer of one server's circuits (the origin's metrics). */
  circuits?: (server: string) => CircuitObserver;
  log: (line: string) => void;
}

/**
 * A probe of a connection's circuit, or on a shared connection the probes of its circuit and of the user's own
 * circuit on it (either may be absent).
 */
export type Probe = number | [number | undefined, number | undefined];

/**
 * One circuit breaker per upstream connection (a user's, or a shared server's), so one user's failing child never
 * stops another user's. A shared server's connection serves every user: its circuit counts each of the connection's own
 * failures (it could not be reached or started), while a failure of one request (a timeout, an error status, the
 * connection closing under it: a child that exited on its input, an answer over the bound) counts in the circuit of
 * that user on it, which refuses that user alone, and in the shared circuit once per user until the connection answers
 * again. A closing is one failure however many calls it ended, blamed on the users with a request written and not
 * answered (FailedRequest.suspects, cancelled ones included): it counts in each of their circuits, and in the shared
 * circuit only when none of them has a failure counted there already, so one user whose input makes the child exit,
 * whoever else's calls are written before or after hers, counts once there and switches the server off for nobody. So
 * one user's slow or failing requests cannot switch the server off for all, yet an upstream that fails everyone's
 * requests (an HTTP server whose gateway answers 502/503/504, a child that dies on every call) opens the shared circuit
 * after `breaker.failures` distinct users in a row (two at least), and stops taking their load. Only circuits with
 * failures are remembered, and one nobody tries for `idleTimeoutMs` is forgotten.
 */
export function upstreamCircuits(options: CircuitOptions) {
  const circuits = new Map<string, CircuitBreaker>();
  /** Per shared connection, the users whose failed requests it counted since it last answered. */
  const failingUsers = new Map<string, Set<string>>();
  /** When each shared connection last had a user's failure counted: its failing users are forgotten by age. */
  const lastCounted = new Map<string, number>();
  /** Closings already counted: one closing ends every call in flight, each reporting it, and is one failure. */
  const countedClosings = new WeakSet<object>();

  /** Whether a closing is reported for the first time (by the first of the calls it ended). */
  function firstReport(closing: object): boolean {
    if (countedClosings.has(closing)) return false;
    countedClosings.add(closing);
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
    if (wasOpen) options.log(`${describeKey(key)} answers again: requests for it go through`);
  }

  function count(key: string, server: string, reason: string, detail?: string): void {
    if (!options.breaker || options.breaker.failures === 0) return;
    const circuit = circuits.get(key) ?? new CircuitBreaker(options.breaker);
    circuits.set(key, circuit);
    if (!circuit.failed(reason)) return;
    options.circuits?.(server).opened();
    options.log(
      `${describeKey(key)} failed ${options.breaker.failures} or more times in a row (last: ${detail ?? reason}): requests for it are refused for ${options.breaker.openMs / 1000} s`,
    );
  }

  /**
   * Whether a failure of these users' requests counts in the shared circuit: when none of them has one counted there
   * since it last answered. With `failures` 1 the first would open it alone, so there it waits for another user's.
   */
  function countsShared(key: string, failed: readonly string[]): boolean {
    const users = failingUsers.get(key) ?? new Set<string>();
    failingUsers.set(key, users);
    lastCounted.set(key, Date.now());
    const known = failed.some((user) => users.has(user));
    for (const user of failed) users.add(user);
    return !known && (users.size >= 2 || (options.breaker?.failures ?? 0) >= 2);
  }

  /**
   * A failed request of these users on a shared connection (one request's user, or a closing's suspects), in each
   * one's circuit and, unless one of them has a failure counted there already, in the shared one. While the shared
   * circuit is open the failure is its probe's, and counts whoever's it is: a failed probe opens it again for `openMs`
   * (counted once per user, it gave its turn back and a dead child was started for each next request).
   */
  function sharedFailure(key: string, server: string, reason: string, users: readonly string[]): void {
    for (const user of users) count(userKey(key, user), server, reason);
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
          failed: (reason, request, detail) => {
            if (!request?.closing || firstReport(request.closing)) count(key, server, reason, detail);
          },
        };
      return {
        succeeded(user) {
          closed(key);
          failingUsers.delete(key);
          lastCounted.delete(key);
          if (user !== undefined) closed(userKey(key, user));
        },
        failed(reason, request, detail) {
          if (!request || request.scope === "connection") return count(key, server, reason, detail);
          if (!request.closing) return sharedFailure(key, server, reason, [request.user]);
          if (firstReport(request.closing)) sharedFailure(key, server, reason, request.suspects ?? [request.user]);
        },
      };
    },
  };
}
