import { DurableObject } from "cloudflare:workers";
import { type AuditEvent, type AuditQueueMessage, utf8Length } from "../contract/audit-event.ts";
import type { SpoolContents } from "../worker/audit/spool-contents.ts";

/**
 * What one object keeps at most, in bytes of JSON. Past it a batch is refused and its events are lost (counted where
 * they were sent from): a queue outage long enough to fill eight of them (2 GiB) has outlasted any backlog the
 * origin could read back in a day, and a Durable Object's storage is not a queue.
 */
export const MAX_SPOOLED_BYTES = 256 * 1024 * 1024;
/** The first resend after a batch is kept: a queue blip is over by then, an outage is not. */
const FIRST_RESEND_MS = 30_000;
/** Longest wait between resends while the queue still refuses. */
const MAX_RESEND_DELAY_MS = 10 * 60_000;
/** Batches resent per alarm: each is one queue message; what is left goes at the next alarm, a second later. */
const RESENDS_PER_ALARM = 50;
const BATCH_PREFIX = "batch:";
const BYTES = "bytes";
const BATCHES = "batches";
const EVENTS = "events";
const DELAY = "delay";

/**
 * Audit events the queue refused, kept until it takes them. The edge tries a send three times within about a second
 * (worker/audit/record.ts); a queue incident lasts longer, and every call made through the edge in it would be missing
 * from the trail. So the refused batch is written here, and the alarm sends it again (each event keeps its id, and the
 * origin stores an id once), waiting longer after each refusal, until the queue takes it. A few objects share the
 * load (`spoolFor`); each keeps its batches in the order they came and deletes its storage once they are all sent.
 */
export class AuditSpool extends DurableObject<{ AUDIT_QUEUE: Queue<AuditQueueMessage> }> {
  /** Keeps the events to send again; false (nothing kept) when this object holds MAX_SPOOLED_BYTES already. */
  async keep(events: AuditEvent[]): Promise<boolean> {
    this.#countersReady();
    const storage = this.ctx.storage.kv;
    const bytes = (storage.get<number>(BYTES) ?? 0) + utf8Length(JSON.stringify(events));
    if (bytes > MAX_SPOOLED_BYTES) return false;
    // Keys sort by when the batch came: the alarm sends the oldest first.
    storage.put(`${BATCH_PREFIX}${Date.now().toString().padStart(15, "0")}:${crypto.randomUUID()}`, events);
    storage.put(BYTES, bytes);
    this.#count(1, events.length);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + FIRST_RESEND_MS);
    return true;
  }

  /** The events kept and not sent yet, from counters kept beside them (no batch read): the ops dashboard's tile. */
  kept(): SpoolContents {
    this.#countersReady();
    const storage = this.ctx.storage.kv;
    const [oldest] = [...storage.list({ prefix: BATCH_PREFIX, limit: 1 })];
    return {
      batches: storage.get<number>(BATCHES) ?? 0,
      events: storage.get<number>(EVENTS) ?? 0,
      bytes: storage.get<number>(BYTES) ?? 0,
      ...(oldest && { oldestAt: Number(oldest[0].slice(BATCH_PREFIX.length, BATCH_PREFIX.length + 15)) }),
    };
  }

  /**
   * Batches kept before the counters existed (by a release before them, during a queue incident that outlasted the
   * deploy) are counted once, by reading them: uncounted, the tile said 0 while they waited.
   */
  #countersReady(): void {
    const storage = this.ctx.storage.kv;
    if (storage.get<number>(BATCHES) !== undefined) return;
    const batches = [...storage.list<AuditEvent[]>({ prefix: BATCH_PREFIX })].map(([, batch]) => batch);
    storage.put(BATCHES, batches.length);
    storage.put(
      EVENTS,
      batches.reduce((sum, batch) => sum + batch.length, 0),
    );
  }

  /** Counts batches and events kept (negative: sent); never below nothing. */
  #count(batches: number, events: number): void {
    const storage = this.ctx.storage.kv;
    storage.put(BATCHES, Math.max(0, (storage.get<number>(BATCHES) ?? 0) + batches));
    storage.put(EVENTS, Math.max(0, (storage.get<number>(EVENTS) ?? 0) + events));
  }

  /**
   * Sends the oldest batches again, each forgotten once the queue took it. The first refusal stops the round, and the
   * next comes later each time (twice the wait, at most ten minutes); a round that sent everything deletes the storage.
   */
  override async alarm(): Promise<void> {
    const storage = this.ctx.storage.kv;
    const { queued, refusal } = await this.#resendOldest();
    if (queued > 0) console.log(`audit spool: ${queued} audit events the queue had refused are queued now`);
    if (refusal !== undefined) {
      const delay = Math.min(2 * (storage.get<number>(DELAY) ?? FIRST_RESEND_MS / 2), MAX_RESEND_DELAY_MS);
      storage.put(DELAY, delay);
      console.warn(`audit spool: the queue still refuses (${String(refusal)}); the kept events go again in ${delay / 1000} s`);
      await this.ctx.storage.setAlarm(Date.now() + delay);
      return;
    }
    storage.delete(DELAY);
    // Batches kept while this round sent are still to send: only an empty spool forgets its storage.
    const more = [...storage.list({ prefix: BATCH_PREFIX, limit: 1 })].length > 0;
    if (more) await this.ctx.storage.setAlarm(Date.now() + 1000);
    else await this.ctx.storage.deleteAll();
  }

  /** Sends the oldest batches, a queue message each, forgetting each once taken; stops at the first refusal. */
  async #resendOldest(): Promise<{ queued: number; refusal?: unknown }> {
    this.#countersReady();
    const storage = this.ctx.storage.kv;
    let queued = 0;
    for (const [key, events] of [...storage.list<AuditEvent[]>({ prefix: BATCH_PREFIX, limit: RESENDS_PER_ALARM })]) {
      try {
        await this.env.AUDIT_QUEUE.send(events, { contentType: "json" });
      } catch (error) {
        return { queued, refusal: error };
      }
      storage.delete(key);
      storage.put(BYTES, Math.max(0, (storage.get<number>(BYTES) ?? 0) - utf8Length(JSON.stringify(events))));
      this.#count(-1, -events.length);
      queued += events.length;
    }
    return { queued };
  }
}
