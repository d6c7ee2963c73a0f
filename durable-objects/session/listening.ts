import { type ListenWhileOpen, listenWhileOpen } from "../../worker/mcp/bridge/listen-while-open.ts";

/**
 * A 2024-11-05 session listens at the origin while its stream lives (worker/mcp/bridge/listen-while-open.ts). A listen
 * for changed subscriptions starts before the one it replaces stops (on acknowledgement): nothing falls between the two.
 */
export class UpstreamListening {
  #current?: AbortController;

  /** Listens (again) as `options` say; `lapsed` runs when the caller's token lapsed and listening ended for it. */
  start(options: Omit<ListenWhileOpen, "signal" | "acknowledged">, lapsed: () => void): void {
    const previous = this.#current;
    const controller = new AbortController();
    this.#current = controller;
    listenWhileOpen({ ...options, signal: controller.signal, acknowledged: () => previous?.abort() })
      .then((ended) => {
        if (ended === "lapsed") lapsed();
      })
      .finally(() => {
        previous?.abort();
        if (this.#current === controller) this.#current = undefined;
      });
  }

  stop(): void {
    this.#current?.abort();
    this.#current = undefined;
  }
}
