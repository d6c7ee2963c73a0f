import { DurableObject } from "cloudflare:workers";
import type { AuditQueueMessage } from "../contract/audit-event.ts";

/** The verdict on one request. */
export interface RateDecision {
  allowed: boolean;
  /** Seconds until the current window ends: the `Retry-After` of a refusal. */
  retryAfterSeconds: number;
}

/** A signed-in caller whose MCP requests were refused: the user, and the OAuth client when it was the client's limit. */
export interface RateLimitedCaller {
  userSub: string;
  clientId?: string;
}

/** Requests refused in one closed window of one bucket: a single audit event stands for all of them. */
export interface RefusedWindow {
  bucket: string;
  windowStart: number;
  refused: number;
  caller?: RateLimitedCaller;
}

interface Window {
  start: number;
  used: number;
  refused: number;
  /** Whose requests were refused, when the caller is a user (or one of their clients) rather than an IP. */
  caller?: RateLimitedCaller;
}

const WINDOW_MS = 60_000;
/** The bucket of MCP requests (refusals counted here, decided by the Workers rate-limiting binding). */
export const MCP_BUCKET = "mcp";
const PENDING = "pending";

/**
 * Fixed one-minute windows per bucket (an endpoint, say), in one object per caller (a client IP): the
 * Workers rate-limiting binding takes its limits from wrangler.toml only and reports no retry time, and
 * these limits are configuration. Refused requests are counted, not audited one by one: when a window
 * with refusals closes, its alarm queues one `auth.rate_limited` event with the count.
 */
export class RateLimiter extends DurableObject<{ AUDIT_QUEUE: Queue<AuditQueueMessage> }> {
  async take(bucket: string, limit: number, now = Date.now()): Promise<RateDecision> {
    const storage = this.ctx.storage.kv;
    let window = storage.get<Window>(bucket);
    const start = now - (now % WINDOW_MS);
    if (!window || window.start !== start) {
      if (window && window.refused > 0) this.keepRefused({ bucket, windowStart: window.start, refused: window.refused });
      window = { start, used: 0, refused: 0 };
    }
    const allowed = window.used < limit;
    if (allowed) window.used += 1;
    else {
      window.refused += 1;
      if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(start + WINDOW_MS);
    }
    storage.put(bucket, window);
    return { allowed, retryAfterSeconds: Math.max(1, Math.ceil((start + WINDOW_MS - now) / 1000)) };
  }

  /**
   * Counts a refusal decided elsewhere (the Workers rate-limiting binding, which keeps no count): the window's
   * alarm then reports it with the others, as one event.
   */
  async noteRefused(bucket: string, caller?: RateLimitedCaller, now = Date.now()): Promise<void> {
    const storage = this.ctx.storage.kv;
    const start = now - (now % WINDOW_MS);
    let window = storage.get<Window>(bucket);
    if (!window || window.start !== start) {
      if (window && window.refused > 0)
        this.keepRefused({ bucket, windowStart: window.start, refused: window.refused, caller: window.caller });
      window = { start, used: 0, refused: 0 };
    }
    storage.put(bucket, { ...window, refused: window.refused + 1, ...(caller && { caller }) });
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(start + WINDOW_MS);
  }

  /** Takes the refusals of every closed window out of storage. */
  drainRefused(now = Date.now()): RefusedWindow[] {
    const storage = this.ctx.storage.kv;
    const drained = storage.get<RefusedWindow[]>(PENDING) ?? [];
    storage.delete(PENDING);
    for (const [bucket, window] of storage.list<Window>()) {
      if (bucket === PENDING || window.refused === 0 || window.start + WINDOW_MS > now) continue;
      drained.push({ bucket, windowStart: window.start, refused: window.refused, caller: window.caller });
      storage.put(bucket, { ...window, refused: 0 });
    }
    return drained;
  }

  /** A window with refusals has closed. */
  override async alarm(): Promise<void> {
    await this.reportRefused();
  }

  /** Queues one audit event per closed window with refusals, with their count. */
  async reportRefused(now = Date.now()): Promise<void> {
    const drained = this.drainRefused(now);
    if (drained.length > 0) {
      await this.env.AUDIT_QUEUE.sendBatch(
        drained.map((window) => ({
          contentType: "json" as const,
          body: {
            id: crypto.randomUUID(),
            time: new Date(window.windowStart).toISOString(),
            kind: window.bucket === MCP_BUCKET ? ("mcp.rate_limited" as const) : ("auth.rate_limited" as const),
            ...(window.caller && { userSub: window.caller.userSub }),
            ...(window.caller?.clientId && { clientId: window.caller.clientId }),
            method: window.bucket,
            outcome: "denied" as const,
            httpStatus: 429,
            latencyMs: 0,
            count: window.refused,
          },
        })),
      );
    }
    // A window still open may have refusals too (its alarm was not set while this one was pending).
    const open = [...this.ctx.storage.kv.list<Window>()].filter(([bucket, window]) => bucket !== PENDING && window.refused > 0);
    if (open.length > 0) await this.ctx.storage.setAlarm(Math.min(...open.map(([, window]) => window.start + WINDOW_MS)));
  }

  private keepRefused(window: RefusedWindow): void {
    const storage = this.ctx.storage.kv;
    storage.put(PENDING, [...(storage.get<RefusedWindow[]>(PENDING) ?? []), window]);
  }
}
