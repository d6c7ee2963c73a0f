import type { RequestAudit } from "../../audit/request-audit.ts";

const KEY_PREFIX = "held-audit:";

/**
 * How long after the last request held an audit the session object's alarm looks for audits left behind. Only an
 * object that restarted (a deploy, a crash) with answers outstanding leaves any: they are recorded this late.
 */
export const HELD_AUDIT_CHECK_MS = 60_000;

/**
 * The audits a session object records at the answer it sends (2024-11-05 requests, whose answers travel later on the
 * session's stream; 2025-era ones answered over SSE), kept in its storage until their events are queued. An object
 * that restarts in between loses its memory and the stream with it; its alarm then finds these and records each as a
 * request that ended without an answer, instead of losing it. A session that ends keeps them (and its alarm) until
 * the queue took them.
 */
export class HeldAudits {
  readonly #storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  /**
   * Keeps the audit (its arguments already redacted, its text fitted for the queue) until `release`. Its event id is
   * fixed now: recorded by its request and again by an alarm, it is still one row at the origin.
   */
  hold(audit: RequestAudit): HeldAudit {
    const held = { id: crypto.randomUUID(), audit };
    this.#storage.kv.put(`${KEY_PREFIX}${held.id}`, held);
    return held;
  }

  /** The audit's event has left for the queue. */
  release(held: HeldAudit): void {
    this.#storage.kv.delete(`${KEY_PREFIX}${held.id}`);
  }

  /** Deletes every other key of the object's storage: a session that ended keeps only what is still to be queued. */
  deleteAllElse(): void {
    for (const [key] of this.#storage.kv.list()) if (!key.startsWith(KEY_PREFIX)) this.#storage.kv.delete(key);
  }

  get any(): boolean {
    for (const _ of this.#storage.kv.list({ prefix: KEY_PREFIX, limit: 1 })) return true;
    return false;
  }

  /**
   * Every audit still held: their requests will never be answered (release each once its event is queued). An entry
   * that is not one (written by an earlier release in another shape) is dropped: it could never be recorded, and the
   * object's storage would never be deleted while it stays.
   */
  all(): HeldAudit[] {
    const held: HeldAudit[] = [];
    for (const [key, entry] of this.#storage.kv.list<Partial<HeldAudit>>({ prefix: KEY_PREFIX })) {
      if (typeof entry?.id === "string" && typeof entry.audit === "object" && entry.audit !== null) held.push(entry as HeldAudit);
      else {
        console.error("a held audit in an unknown shape was dropped: it cannot be recorded");
        this.#storage.kv.delete(key);
      }
    }
    return held;
  }
}

/** An audit held for a request, under the id its event will have. */
export interface HeldAudit {
  id: string;
  audit: RequestAudit;
}
