import { safeText } from "./failure-text.ts";

/** When an upstream connection keeps failing, how long the origin stops trying (`relay.breakerFailures`, `relay.breakerOpenSeconds`). */
export interface BreakerSettings {
  /** Failures in a row that open the circuit; 0 never opens it. */
  failures: number;
  /** How long an open circuit refuses requests before it lets one through to try again. */
  openMs: number;
}

/**
 * Whose request failed, and what failed: the one request (it timed out, or an error status answered it), the
 * connection (it could not be reached), or the connection closed under the request (`closed`: a child that exited, a
 * message over the bound; `closing` is the same for every call that one closing ended). A shared connection's circuit
 * counts the connection's failures each time, and a request's or a closing's once per user: one user's requests, or
 * one user's input that makes the child exit, must not switch it off for the others, while the same failure from many
 * users (an HTTP gateway answering 503 to all, a child that dies on everyone's calls) says it is down for everyone.
 * A closing counts once, whatever the number of calls it ended, against its `suspects`.
 */
export interface FailedRequest {
  user: string;
  scope: "request" | "connection" | "closed";
  closing?: object;
  /**
   * With `closing`: the users with a request written to the connection and not answered when it closed (`user` among
   * them), cancelled ones included. The input that made a child exit is among theirs; which one cannot be told.
   */
  suspects?: readonly string[];
}

/** Where an upstream connection reports whether the upstream answered: what its circuit breaker counts. */
export interface UpstreamHealth {
  /** `user`: whose request was answered (absent: the connection's own, e.g. its start). */
  succeeded(user?: string): void;
  /**
   * `reason` is the failure's kind (failureKind: a status, a timeout), never its text: an open circuit repeats it to
   * every caller it refuses, on a shared server other users. `request` absent: the connection failed (its start).
   * `detail`: the failure's whole text, for the operator's log line when the circuit opens (never for callers).
   */
  failed(reason: string, request?: FailedRequest, detail?: string): void;
}

/** Told when one server's circuits open and refuse requests (the origin's metrics). */
export interface CircuitObserver {
  opened(): void;
  refused(): void;
}

/** A request refused at once because its upstream's circuit is open. */
export class CircuitOpen extends Error {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.name = "CircuitOpen";
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * One upstream connection's circuit. Closed: requests go through and failures in a row are counted. Open (after
 * `failures` in a row): requests are refused at once for `openMs`, so a child that crashes at start is not spawned
 * again for every request and a dead server is not waited on by each. Then half-open: one request goes through as a
 * probe; its success closes the circuit, its failure opens it for another `openMs`. A probe that ends without
 * reaching the upstream gives its turn back (`probeEnded`); one that never reports stands in the way for `openMs`.
 */
export class CircuitBreaker {
  readonly #settings: BreakerSettings;
  readonly #now: () => number;
  #failuresInARow = 0;
  #openUntil: number | undefined;
  /** The probe under way: its number and since when. */
  #probe: { id: number; since: number } | undefined;
  #probes = 0;
  #lastFailure = "";
  #lastEvent: number;

  constructor(settings: BreakerSettings, now: () => number = Date.now) {
    this.#settings = settings;
    this.#now = now;
    this.#lastEvent = now();
  }

  /** Whether requests are being refused (or one probe let through). */
  get open(): boolean {
    return this.#openUntil !== undefined;
  }

  /** How long since anything happened to this circuit: a circuit nobody tries for long is forgotten by its owner. */
  quietFor(): number {
    return this.#now() - this.#lastEvent;
  }

  /**
   * Lets a request through, or throws `CircuitOpen` saying why and for how long. `name` names the upstream in the
   * message. Returns the probe's number when this request is the one that tries an open circuit again.
   */
  admit(name: string): number | undefined {
    if (this.#openUntil === undefined) return undefined;
    const now = this.#now();
    this.#lastEvent = now;
    const probing = this.#probe !== undefined && now - this.#probe.since < this.#settings.openMs;
    if (now >= this.#openUntil && !probing) {
      this.#probe = { id: ++this.#probes, since: now };
      return this.#probe.id;
    }
    const probeEnds = probing ? (this.#probe as { since: number }).since + this.#settings.openMs : 0;
    const seconds = Math.max(1, Math.ceil((Math.max(this.#openUntil, probeEnds) - now) / 1000));
    const times = this.#failuresInARow === 1 ? "once" : `${this.#failuresInARow} times`;
    throw new CircuitOpen(
      `${name} failed ${times} in a row (last: ${this.#lastFailure}); the origin stops trying it for a while: retry in ${seconds} s`,
      seconds,
    );
  }

  /** The probe ended without telling how the upstream did (it never reached it): the next request may try. */
  probeEnded(id: number): void {
    if (this.#probe?.id === id) this.#probe = undefined;
  }

  /** The upstream answered (an error it sends counts as an answer): the circuit closes. */
  succeeded(): void {
    this.#failuresInARow = 0;
    this.#openUntil = undefined;
    this.#probe = undefined;
    this.#lastEvent = this.#now();
  }

  /**
   * The upstream could not be started or reached, or did not answer in time. True when this failure opened the
   * circuit: the bound reached while closed, or the probe failed. A failure of a request that was under way when
   * the circuit opened changes nothing more.
   */
  failed(reason: string): boolean {
    // Bounded and redacted, should a caller pass more than a kind: the refusal goes to whoever calls next.
    this.#lastFailure = safeText(reason);
    this.#failuresInARow++;
    this.#lastEvent = this.#now();
    const wasProbe = this.#probe !== undefined;
    this.#probe = undefined;
    if (this.#settings.failures === 0) return false;
    const opens = wasProbe || (this.#openUntil === undefined && this.#failuresInARow >= this.#settings.failures);
    if (opens) this.#openUntil = this.#now() + this.#settings.openMs;
    return opens;
  }
}
