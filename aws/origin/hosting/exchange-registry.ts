import type { Exchange } from "./exchange.ts";

/**
 * The interactive exchanges of one upstream connection: those waiting for the upstream, and those parked
 * until the client's retry brings its answers. A parked exchange that nobody resumes is abandoned at its
 * deadline, so the upstream's call does not wait forever.
 */
export class ExchangeRegistry {
  private readonly live = new Set<Exchange>();
  private readonly parked = new Map<string, { exchange: Exchange; timer: ReturnType<typeof setTimeout> }>();

  /** How long a parked exchange waits for the client's retry. */
  readonly parkMs: number;

  constructor(parkMs: number) {
    this.parkMs = parkMs;
  }

  begin(exchange: Exchange): void {
    this.live.add(exchange);
  }

  end(exchange: Exchange): void {
    this.live.delete(exchange);
  }

  /**
   * The exchange a server-to-client request belongs to. Over stdio a 2025-era upstream does not say which
   * request it is asking about; the connection is one user's, so the latest interactive request is the one.
   */
  current(): Exchange | undefined {
    let latest: Exchange | undefined;
    for (const exchange of [...this.live, ...[...this.parked.values()].map((entry) => entry.exchange)])
      if (!latest || exchange.startedAt >= latest.startedAt) latest = exchange;
    return latest;
  }

  /** Exchanges parked until the client's retry brings its answers (a prompt the user may still be reading). */
  awaitingClient(): number {
    return this.parked.size;
  }

  park(exchange: Exchange): void {
    this.live.delete(exchange);
    exchange.parkedUntil = Date.now() + this.parkMs;
    const timer = setTimeout(() => {
      this.parked.delete(exchange.id);
      exchange.abandon("the client did not answer the input request in time");
    }, this.parkMs);
    timer.unref?.();
    this.parked.set(exchange.id, { exchange, timer });
  }

  /**
   * Takes a parked exchange back for the retry of its latest round; undefined if it expired, never lived on this
   * instance, belongs to another request, or the state is of an earlier round (a replayed retry).
   */
  resume(id: string, target: string, round: number): Exchange | undefined {
    const entry = this.parked.get(id);
    if (!entry || entry.exchange.target !== target || entry.exchange.round !== round) return undefined;
    clearTimeout(entry.timer);
    this.parked.delete(id);
    entry.exchange.parkedUntil = undefined;
    this.live.add(entry.exchange);
    return entry.exchange;
  }

  /** Abandons everything (the connection is closing). */
  closeAll(reason: string): void {
    for (const { exchange, timer } of this.parked.values()) {
      clearTimeout(timer);
      exchange.abandon(reason);
    }
    this.parked.clear();
    for (const exchange of this.live) exchange.abandon(reason);
    this.live.clear();
  }
}
