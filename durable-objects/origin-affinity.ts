import { DurableObject } from "cloudflare:workers";

/** Which origin instance a user's traffic sticks to: the balancer's cookies, and the instance they lead to. */
export interface Affinity {
  /** The origin's own name for the instance (its `mcp-origin-instance` header). */
  instance: string;
  /** `name=value` pairs of the balancer's stickiness cookies, sent back as they came. */
  cookies: string;
  /**
   * When these cookies were stored (epoch ms): about when the balancer issued them, which it honours only for its
   * stickiness duration after that. Absent in what older code stored: such cookies are as old as can be.
   */
  learnedAt?: number;
}

/**
 * One object per user: the single place that decides which origin instance holds that user's stdio children and
 * pending exchanges. Every edge isolate caches the answer; this object settles races between them.
 */
export class OriginAffinity extends DurableObject {
  async current(): Promise<Affinity | undefined> {
    return this.ctx.storage.kv.get<Affinity>("affinity");
  }

  /**
   * Compare-and-set: the balancer's answer replaces the stored affinity only if the request carried the stored one
   * (or none was stored). So a first request that raced another cannot move the user, but a re-route away from a
   * lost instance does. An answer of the same instance (fresh cookies for it) replaces them only if they are still
   * the ones the request carried (`sentLearnedAt`): when several isolates refresh at once, one write is enough.
   * Returns what is stored afterwards.
   */
  async settle(
    sent: string | undefined,
    received: Pick<Affinity, "instance" | "cookies">,
    sentLearnedAt?: number,
  ): Promise<Affinity> {
    const stored = this.ctx.storage.kv.get<Affinity>("affinity");
    if (stored !== undefined && stored.instance !== sent) return stored;
    if (stored !== undefined && received.instance === stored.instance && stored.learnedAt !== sentLearnedAt) return stored;
    const affinity: Affinity = { instance: received.instance, cookies: received.cookies, learnedAt: Date.now() };
    this.ctx.storage.kv.put("affinity", affinity);
    return affinity;
  }

  /** Forgets the affinity (the instance was lost); the next request is balanced anew. */
  async forget(instance: string): Promise<void> {
    if (this.ctx.storage.kv.get<Affinity>("affinity")?.instance === instance) this.ctx.storage.kv.delete("affinity");
  }
}
