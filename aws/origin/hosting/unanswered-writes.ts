/**
 * The requests written to one upstream connection and not answered (yet): those in flight, and those whose caller
 * gave up first (a cancellation, a timeout), which the upstream may still be working on. When the connection closes
 * by itself (a child that exited, an answer over the bound), these are the suspects: which input caused it cannot be
 * told, but it was one the upstream had read and not answered. One written longer ago than `windowMs` is forgotten.
 */
export class UnansweredWrites {
  readonly #windowMs: number;
  readonly #writes = new Map<symbol, { user: string; at: number }>();

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** A request of `user` is written; call the result when the upstream answers it (a result or its own error). */
  wrote(user: string): () => void {
    this.#forgetOld();
    const write = Symbol(user);
    this.#writes.set(write, { user, at: Date.now() });
    return () => void this.#writes.delete(write);
  }

  /** The users with a request written and not answered within the window. */
  users(): string[] {
    this.#forgetOld();
    return [...new Set([...this.#writes.values()].map((write) => write.user))];
  }

  /** The map is in order of writing: the old ones are at its start. */
  #forgetOld(): void {
    const since = Date.now() - this.#windowMs;
    for (const [write, { at }] of this.#writes) {
      if (at >= since) return;
      this.#writes.delete(write);
    }
  }
}
