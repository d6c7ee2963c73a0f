import type { AuditEvent } from "../../../contract/audit-event.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";

/** Where the events go: the audit store, which stores an id once (so an event tried again is never stored twice). */
export interface EventSink {
  insert(events: AuditEvent[]): Promise<unknown>;
}

/**
 * The events the origin records itself (pins' sightings, approval decisions, servers left out of an aggregated
 * answer). They do not travel through the edge's queue, so nothing else would try them again.
 */
export interface OriginEvents {
  /** Stores `event` in the background: returns at once (no call waits on its audit), tried again while it fails. */
  record(event: AuditEvent): void;
  /** Waits at most `withinMs` for every recorded event to be stored; any still unstored is then given up, logged. */
  flush(withinMs: number): Promise<void>;
}

export interface OriginEventsOptions {
  /** How long after it was recorded an event is still tried. */
  retryForMs?: number;
  /** The wait after a first failure, doubled after each next one up to `maxDelayMs` (a success starts over). */
  firstDelayMs?: number;
  maxDelayMs?: number;
  /**
   * The most events waiting at once (memory stays bounded in an outage): past it a pin's sighting is given up rather
   * than anything else (see {@link GIVEN_UP_FIRST}), else the new event.
   */
  maxWaiting?: number;
  /** The most events stored in one round trip. */
  batchSize?: number;
  /**
   * Told of each event given up on, besides its log line: the origin counts them (`mcp_origin_audit_events_lost_total`),
   * so that an alarm, not only a reader of the log, learns that the trail misses an approval or a pin's sighting.
   */
  lost?: (kind: AuditEvent["kind"]) => void;
}

/** Longer than an RDS Multi-AZ failover (one to two minutes) or a pool exhausted for a while. */
export const ORIGIN_EVENTS_RETRY_MS = 5 * 60_000;
/**
 * How long the origin's close() waits for them: with ORIGIN_SHUTDOWN_GRACE_MS (start-origin.ts), still within ECS's
 * stopTimeout (120 s, aws/cdk/service/origin-service.ts), so the checkpoints after them are flushed too.
 */
export const ORIGIN_EVENTS_FLUSH_MS = 5_000;

/**
 * Events stored per round trip. One at a time, the line drained at one event per round trip while a single upstream
 * listing thousands of new resources records one `definition.first_seen` each: it filled in seconds, and what was
 * recorded meanwhile was lost with the database up (s22 hunt G4). One INSERT of 500 (one parameter per column, of
 * arrays: aws/origin/audit/chain/append.ts) costs little more than one of one.
 */
export const ORIGIN_EVENTS_BATCH = 500;

/**
 * Which events a full line gives up first, lowest first: a pin's first sighting (a burst of them is what fills it,
 * and the pin itself is in pinned_definitions), then a held or changed definition (also kept there, as pending);
 * anything else (a user's answer to an approval prompt, a server left out of an answer) is recorded nowhere else.
 */
const GIVEN_UP_FIRST: Partial<Record<AuditEvent["kind"], number>> = {
  "definition.first_seen": 0,
  "definition.held": 1,
  "definition.changed": 1,
};
const rankOf = (event: AuditEvent) => GIVEN_UP_FIRST[event.kind] ?? 2;

const writers = new WeakMap<EventSink, OriginEvents>();

/**
 * The writer of `sink`'s origin events, made by the first call with its log and options. One per sink, so that the
 * origin's close() flushes every event recorded into its store, by whichever module: app.ts hands the aggregate's
 * left-out report the store, not a writer.
 */
export function originEventsOf(sink: EventSink, log: (line: string) => void, options?: OriginEventsOptions): OriginEvents {
  let writer = writers.get(sink);
  if (!writer) {
    writer = createOriginEvents(sink, log, options);
    writers.set(sink, writer);
  }
  return writer;
}

interface Waiting {
  event: AuditEvent;
  giveUpAt: number;
  attempts: number;
  lastError?: unknown;
  /** Was in a batch the database answered and refused: tried on its own since, so that one bad event holds up no batch. */
  alone?: boolean;
}

/**
 * One batch at a time, in one loop: while the database is away, a single connection attempt is in flight rather
 * than one per event (the pool is shared with every MCP request). A batch that fails because the database is away is
 * tried again whole; the events of one the database refused are tried again one at a time, and one that fails alone
 * goes to the back, so one the database refuses for good holds up neither a batch nor the others.
 */
export function createOriginEvents(
  sink: EventSink,
  log: (line: string) => void,
  options: OriginEventsOptions = {},
): OriginEvents {
  const { retryForMs = ORIGIN_EVENTS_RETRY_MS, firstDelayMs = 200, maxDelayMs = 10_000, maxWaiting = 10_000, lost } = options;
  const batchSize = Math.max(1, options.batchSize ?? ORIGIN_EVENTS_BATCH);
  const waiting: Waiting[] = [];
  let draining: Promise<void> | undefined;
  let flushing = false;
  let closed = false;
  let wake = () => {};

  // The event's id and kind only: its other fields name users.
  const giveUp = (entry: Waiting, why: string) => {
    log(
      `origin audit event ${entry.event.id} (${entry.event.kind}) is lost, never stored: ${why}, after ` +
        `${entry.attempts} attempt(s)${entry.lastError === undefined ? "" : `; the last failed with ${String(entry.lastError)}`}`,
    );
    lost?.(entry.event.kind);
  };

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake = () => {};
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref?.();
      wake = done;
    });

  function giveUpExpired(now: number) {
    for (let index = waiting.length - 1; index >= 0; index--) {
      const entry = waiting[index];
      if (entry && entry.giveUpAt <= now) {
        waiting.splice(index, 1);
        giveUp(entry, `not stored within ${retryForMs / 1000} s`);
      }
    }
  }

  /** The first event alone if it was in a failed batch, else the events before the next such one, up to batchSize. */
  function nextBatch(): Waiting[] {
    if (waiting[0]?.alone) return waiting.splice(0, 1);
    let end = 0;
    while (end < waiting.length && end < batchSize && !waiting[end]?.alone) end++;
    return waiting.splice(0, end);
  }

  function failed(batch: Waiting[], error: unknown) {
    for (const entry of batch) entry.lastError = error;
    if (closed) for (const entry of batch) giveUp(entry, "the origin closed");
    else if (batch.length === 1) waiting.push(...batch);
    else {
      // First again. Split one at a time only when the database answered and refused the batch: a database away says
      // nothing of its events, and nothing clears `alone`, so after a mere blip they would go one round trip each
      // (s22 review R3).
      if (!isDatabaseUnavailable(error)) for (const entry of batch) entry.alone = true;
      waiting.unshift(...batch);
    }
  }

  async function drain() {
    let delay = 0;
    while (waiting.length > 0) {
      // Closing, what is left is tried as often as the back-off's first step, for as long as the flush may take.
      if (delay > 0) await pause(flushing ? firstDelayMs : delay);
      const batch = nextBatch();
      if (batch.length === 0) break;
      for (const entry of batch) entry.attempts++;
      try {
        await sink.insert(batch.map((entry) => entry.event));
        if (delay > 0) log(`origin audit events: stored again (${waiting.length} still waiting)`);
        delay = 0;
      } catch (error) {
        if (delay === 0)
          log(`origin audit events: storing failed, trying again for up to ${retryForMs / 1000} s: ${String(error)}`);
        failed(batch, error);
        giveUpExpired(Date.now());
        delay = Math.min(maxDelayMs, Math.max(firstDelayMs, delay * 2));
      }
    }
    // Set in the same turn as the check above: an event recorded after it starts a new loop.
    draining = undefined;
  }

  /** The oldest waiting event of the lowest rank below `event`'s, taken out of the line; none when there is none. */
  function makeRoomFor(event: AuditEvent): Waiting | undefined {
    let index = -1;
    let rank = rankOf(event);
    for (let at = 0; at < waiting.length && rank > 0; at++) {
      const entry = waiting[at];
      if (entry && rankOf(entry.event) < rank) [index, rank] = [at, rankOf(entry.event)];
    }
    return index < 0 ? undefined : waiting.splice(index, 1)[0];
  }

  return {
    record(event) {
      const entry = { event, giveUpAt: Date.now() + retryForMs, attempts: 0 };
      if (closed) return giveUp(entry, "recorded after the origin closed");
      if (waiting.length >= maxWaiting) {
        const full = `${maxWaiting} events already waiting for the database`;
        const room = makeRoomFor(event);
        if (!room) return giveUp(entry, full);
        giveUp(room, full);
      }
      waiting.push(entry);
      draining ??= drain();
    },

    async flush(withinMs) {
      flushing = true;
      wake(); // a retry waiting out its back-off goes now
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, withinMs);
      });
      await Promise.race([draining, deadline]);
      clearTimeout(timer);
      closed = true;
      for (const entry of waiting.splice(0)) giveUp(entry, "the origin closed");
      wake();
    },
  };
}
