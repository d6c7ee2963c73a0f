import type { EdgeAssertionClaims } from "../../../contract/edge-assertion.ts";
import { announceEveryChange, hasAnythingToListenFor, type ListNotification, listenToOrigin } from "./listen.ts";
import type { OriginLink } from "./origin-exchange.ts";
import type { SessionRecord } from "./session-record.ts";

/** The pause before listening again after a listen ended, doubled while they keep ending, up to the longest. */
export const LISTEN_AGAIN_PAUSE_MS = { first: 1000, longest: 30_000 } as const;

export interface ListenWhileOpen {
  origin: OriginLink;
  /** The session as it is now: each new listen asks for its current subscriptions. */
  record: () => SessionRecord;
  claims: () => EdgeAssertionClaims;
  /** Aborted when the session's stream ends, or a listen for changed subscriptions has taken over. */
  signal: AbortSignal;
  deliver: (notification: ListNotification) => Promise<void>;
  /** Runs each time the origin listens. */
  acknowledged?: () => void;
  /**
   * Whether the caller's latest token has expired or their groups are older than the TTL (`authorizationLapsed`).
   * Each listen is signed for the caller, so none is begun again after that: the loop ends with `"lapsed"` and the
   * stream is to be closed (its client opens a new one with a fresh token).
   */
  lapsed?: () => boolean;
  pauseMs?: { first: number; longest: number };
}

/**
 * Keeps a 2024-11-05 session listening at the origin for as long as its stream lives. Such a session is its stream:
 * unlike a 2025-era GET stream, which ends with the origin's listen so that its client resumes, it has no way to say
 * that it missed anything. So a listen that ends (an origin deployed or lost, an aggregated server's listen ending) is
 * begun again, after a pause that grows while they keep ending, and once the origin listens again every change that
 * may have been missed meanwhile is announced; but never in the name of a caller whose token has expired since, or with groups older than the TTL.
 */
export async function listenWhileOpen(options: ListenWhileOpen): Promise<"lapsed" | undefined> {
  const { signal } = options;
  const pauses = options.pauseMs ?? LISTEN_AGAIN_PAUSE_MS;
  let pause = pauses.first;
  let missed = false;
  while (!signal.aborted) {
    const record = options.record();
    if (!hasAnythingToListenFor(record)) return undefined;
    const acknowledged = () => {
      pause = pauses.first;
      options.acknowledged?.();
      if (!missed) return;
      missed = false;
      announceEveryChange(record, options.deliver, "a session's missed changes");
    };
    try {
      await listenToOrigin(options.origin, record, options.claims(), signal, options.deliver, acknowledged);
    } catch (error) {
      if (!signal.aborted) console.error(`listen stream for a session ended: ${String(error)}`);
    }
    missed = true;
    await pauseFor(pause, signal);
    pause = Math.min(pause * 2, pauses.longest);
    if (!signal.aborted && options.lapsed?.()) return "lapsed";
  }
  return undefined;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
const pauseFor = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
