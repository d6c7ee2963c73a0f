/**
 * The listens each user holds open per server, counted so that none takes more than a share (`relay.listensPerUser`,
 * 128 by default: above the edge's default `sessionsPerUser` of 100, each 2025-era session's GET stream being one
 * listen, with room for 2026-07-28 clients beside them). Without a share per user, one user's listens filled a shared
 * server's connection (the SDK admitted 1,024 per connection) and every other user's listen on it was refused.
 */
export class ListenShares {
  readonly #open = new Map<string, number>();
  readonly perUser: number;

  constructor(perUser: number) {
    this.perUser = perUser;
  }

  /** A share for one more listen of `sub` on `server`, given back by calling the result; undefined past the bound. */
  take(sub: string, server: string): (() => void) | undefined {
    const key = `${server}\0${sub}`;
    const open = this.#open.get(key) ?? 0;
    if (open >= this.perUser) return undefined;
    this.#open.set(key, open + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    };
  }

  /** Listens open now, for tests and metrics. */
  open(sub: string, server: string): number {
    return this.#open.get(`${server}\0${sub}`) ?? 0;
  }
}
