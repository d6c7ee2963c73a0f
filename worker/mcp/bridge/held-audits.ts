import type { RequestAudit } from "../../audit/request-audit.ts";

const KEY_PREFIX = "held-audit:";

/**
 * How long after the last request held an audit the session object's alarm looks for audits left behind. Only an
 * object that restarted (a deploy, a crash) with answers outstanding leaves any: they are recorded this late.
 */
export const HELD_AUDIT_CHECK_MS = 60_000;

/**
 * The audits of 2024-11-05 requests, whose answers travel later on the session's stream, kept in the session object's
 * storage until the answer is sent. An object that restarts in between loses its memory and the stream with it; its
 * alarm then finds these and records each as a request that ended without an answer, instead of losing it.
 */
export class HeldAudits {
  readonly #storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  /** Keeps the audit (its arguments already redacted) until `release`; the key to release it with. */
  hold(audit: RequestAudit): string {
    const key = `${KEY_PREFIX}${crypto.randomUUID()}`;
    this.#storage.kv.put(key, audit);
    return key;
  }

  /** The audit is being recorded by the request it describes. */
  release(key: string): void {
    this.#storage.kv.delete(key);
  }

  get any(): boolean {
    for (const _ of this.#storage.kv.list({ prefix: KEY_PREFIX, limit: 1 })) return true;
    return false;
  }

  /** Every audit still held, removed from storage: their requests will never be answered. */
  takeAll(): RequestAudit[] {
    const held = [...this.#storage.kv.list<RequestAudit>({ prefix: KEY_PREFIX })];
    for (const [key] of held) this.#storage.kv.delete(key);
    return held.map(([, audit]) => audit);
  }
}
