import { UpstreamTimeout } from "./upstream-errors.ts";

/** Whether the upstream waits on the client, and when the client last answered it. */
export interface ClientHold {
  waiting: boolean;
  answeredAt?: number;
}

/**
 * Aborts after `ms` without an answer or progress from the upstream (progress its client reads: see `call`). While the upstream waits on the client (an
 * elicitation, a sampling) the clock stops, and it starts again, a whole period, from the client's answer: the
 * upstream's silence before that is no fault of its own.
 */
export function idleTimeout(ms: number, hold: () => ClientHold = () => ({ waiting: false })) {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout>;
  const expire = () => {
    const { waiting, answeredAt } = hold();
    const owed = answeredAt === undefined ? 0 : answeredAt + ms - Date.now();
    if (waiting) arm(ms);
    else if (owed > 0) arm(owed);
    else controller.abort(new UpstreamTimeout(ms));
  };
  const arm = (after: number) => {
    timer = setTimeout(expire, after);
    timer.unref?.();
  };
  arm(ms);
  return {
    signal: controller.signal,
    reset: () => {
      clearTimeout(timer);
      arm(ms);
    },
    clear: () => clearTimeout(timer),
  };
}
