import { DurableObject } from "cloudflare:workers";

/** Which origin instance a user's traffic sticks to: the balancer's cookies, and the instance they lead to. */
export interface Affinity {
  /** The origin's own name for the instance (its `mcp-origin-instance` header). */
  instance: string;
  /** `name=value` pairs of the balancer's stickiness cookies, sent back as they came. */
  cookies: string;
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
   * lost instance does. Returns what is stored afterwards.
   */
  async settle(sent: string | undefined, received: Affinity): Promise<Affinity> {
    const stored = this.ctx.storage.kv.get<Affinity>("affinity");
    if (stored === undefined || stored.instance === sent) {
      this.ctx.storage.kv.put("affinity", received);
      return received;
    }
    return stored;
  }

  /** Forgets the affinity (the instance was lost); the next request is balanced anew. */
  async forget(instance: string): Promise<void> {
    if (this.ctx.storage.kv.get<Affinity>("affinity")?.instance === instance) this.ctx.storage.kv.delete("affinity");
  }
}
