import { DurableObject } from "cloudflare:workers";
import { type AuditQueueMessage, fitText } from "../contract/audit-event.ts";
import { derivedUuid } from "../contract/derived-uuid.ts";

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
 * The most messages one sendBatch takes (Cloudflare Queues' limit; a larger batch is refused whole). 100 reports stay
 * under its 256 KB too: a report's texts are cut to MAX_AUDIT_TEXT_BYTES (a metadata-document client id is a URL).
 */
const MAX_SEND_MESSAGES = 100;

/**
 * Fixed one-minute windows per bucket (an endpoint, say), in one object per caller (a client IP): the
 * Workers rate-limiting binding takes its limits from wrangler.toml only and reports no retry time, and
 * these limits are configuration. Refused requests are counted, not audited one by one: when a window
 * with refusals closes, its alarm queues one `auth.rate_limited` event with the count. Once every window has closed
 * and nothing is left to report, the object deletes its storage: an address seen once costs nothing after a minute.
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
    else window.refused += 1;
    storage.put(bucket, window);
    await this.alarmAtWindowEnd(start);
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
    await this.alarmAtWindowEnd(start);
  }

  /** The refusals of every closed window, still in storage until they are reported. */
  closedRefusals(now = Date.now()): RefusedWindow[] {
    const storage = this.ctx.storage.kv;
    const closed = [...(storage.get<RefusedWindow[]>(PENDING) ?? [])];
    for (const [bucket, window] of storage.list<Window>()) {
      if (bucket === PENDING || window.refused === 0 || window.start + WINDOW_MS > now) continue;
      closed.push({ bucket, windowStart: window.start, refused: window.refused, caller: window.caller });
    }
    return closed;
  }

  /** A window has closed. */
  override async alarm(): Promise<void> {
    await this.reportRefused();
  }

  /**
   * Queues one audit event per closed window with refusals, with their count, and only then forgets them (a failed
   * send leaves them for the alarm's retry). Deletes the object's storage once every window has closed.
   */
  async reportRefused(now = Date.now()): Promise<void> {
    const closed = this.closedRefusals(now);
    // A queue outage leaves a window a minute per bucket (three auth buckets an address): after a long one, more than
    // a sendBatch takes. Each part is forgotten once sent, so one that fails is all the next alarm sends again.
    for (let start = 0; start < closed.length; start += MAX_SEND_MESSAGES) {
      const part = closed.slice(start, start + MAX_SEND_MESSAGES);
      await this.env.AUDIT_QUEUE.sendBatch(await this.reports(part));
      this.forgetReported(part);
    }
    const open = [...this.ctx.storage.kv.list<Window>()].filter(
      ([bucket, window]) => bucket !== PENDING && window.start + WINDOW_MS > now,
    );
    if (open.length > 0) await this.ctx.storage.setAlarm(Math.min(...open.map(([, window]) => window.start + WINDOW_MS)));
    else if (this.ctx.storage.kv.get(PENDING) === undefined) await this.ctx.storage.deleteAll();
  }

  /** The queue messages reporting `windows`, one event each. */
  private async reports(windows: RefusedWindow[]): Promise<MessageSendRequest<AuditQueueMessage>[]> {
    // A window's report keeps its id on every attempt: a send that failed after the queue took it is sent again.
    const limiter = this.ctx.id.toString();
    const ids = await Promise.all(windows.map((window) => derivedUuid(limiter, window.bucket, window.windowStart)));
    return windows.map((window, index) => ({
      contentType: "json" as const,
      body: {
        id: ids[index] as string,
        time: new Date(window.windowStart).toISOString(),
        kind: window.bucket === MCP_BUCKET ? ("mcp.rate_limited" as const) : ("auth.rate_limited" as const),
        ...(window.caller && { userSub: fitText(window.caller.userSub) }),
        ...(window.caller?.clientId && { clientId: fitText(window.caller.clientId) }),
        method: window.bucket,
        outcome: "denied" as const,
        httpStatus: 429,
        latencyMs: 0,
        count: window.refused,
      },
    }));
  }

  /** Removes reported refusals: requests taken while the report was being sent may have moved a window to the pending list. */
  private forgetReported(reported: RefusedWindow[]): void {
    const storage = this.ctx.storage.kv;
    const isReported = (bucket: string, windowStart: number) =>
      reported.some((window) => window.bucket === bucket && window.windowStart === windowStart);
    const pending = (storage.get<RefusedWindow[]>(PENDING) ?? []).filter(
      (window) => !isReported(window.bucket, window.windowStart),
    );
    if (pending.length > 0) storage.put(PENDING, pending);
    else storage.delete(PENDING);
    for (const [bucket, window] of storage.list<Window>()) {
      if (bucket !== PENDING && isReported(bucket, window.start)) storage.put(bucket, { ...window, refused: 0 });
    }
  }

  /** Every written window is looked at once it closes: to report its refusals, and to delete what is no longer needed. */
  private async alarmAtWindowEnd(windowStart: number): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(windowStart + WINDOW_MS);
  }

  private keepRefused(window: RefusedWindow): void {
    const storage = this.ctx.storage.kv;
    storage.put(PENDING, [...(storage.get<RefusedWindow[]>(PENDING) ?? []), window]);
  }
}
