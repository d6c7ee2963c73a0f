/** When an upstream connection keeps failing, how long the origin stops trying (`relay.breakerFailures`, `relay.breakerOpenSeconds`). */
export interface BreakerSettings {
  /** Failures in a row that open the circuit; 0 never opens it. */
  failures: number;
  /** How long an open circuit refuses requests before it lets one through to try again. */
  openMs: number;
}

/** Where an upstream connection reports whether the upstream answered: what its circuit breaker counts. */
export interface UpstreamHealth {
  succeeded(): void;
  failed(reason: string): void;
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
 * probe; its success closes the circuit, its failure opens it for another `openMs`. A probe that never reports (its
 * client went away) stands in the way of the next one for `openMs` at most.
 */
export class CircuitBreaker {
  readonly #settings: BreakerSettings;
  readonly #now: () => number;
  #failuresInARow = 0;
  #openUntil: number | undefined;
  #probeSince: number | undefined;
  #lastFailure = "";

  constructor(settings: BreakerSettings, now: () => number = Date.now) {
    this.#settings = settings;
    this.#now = now;
  }

  /** Whether requests are being refused (or one probe let through). */
  get open(): boolean {
    return this.#openUntil !== undefined;
  }

  /** Lets a request through, or throws `CircuitOpen` saying why and for how long. `name` names the upstream in the message. */
  admit(name: string): void {
    if (this.#openUntil === undefined) return;
    const now = this.#now();
    const probing = this.#probeSince !== undefined && now - this.#probeSince < this.#settings.openMs;
    if (now >= this.#openUntil && !probing) {
      this.#probeSince = now;
      return;
    }
    const waitMs = Math.max(this.#openUntil - now, probing ? (this.#probeSince as number) + this.#settings.openMs - now : 0);
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    throw new CircuitOpen(
      `${name} failed ${this.#failuresInARow === 1 ? "once" : `${this.#failuresInARow} times`} in a row (last: ${this.#lastFailure}); the origin stops trying it for a while: retry in ${seconds} s`,
      seconds,
    );
  }

  /** The upstream answered (an error it sends counts as an answer): the circuit closes. */
  succeeded(): void {
    this.#failuresInARow = 0;
    this.#openUntil = undefined;
    this.#probeSince = undefined;
  }

  /** The upstream could not be started or reached, or did not answer in time. True when this failure opened the circuit. */
  failed(reason: string): boolean {
    this.#lastFailure = reason;
    this.#failuresInARow++;
    const wasProbe = this.#probeSince !== undefined;
    this.#probeSince = undefined;
    if (this.#settings.failures === 0 || (this.#failuresInARow < this.#settings.failures && !wasProbe)) return false;
    this.#openUntil = this.#now() + this.#settings.openMs;
    return true;
  }
}
