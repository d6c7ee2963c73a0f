import { DurableObject } from "cloudflare:workers";
import type { EdgeEnv } from "../worker/env.ts";

const KEY_PREFIX = "session:";

/**
 * One user's live 2025-era sessions (one object per user), so that their number is bounded: every `initialize`, and
 * every 2024-11-05 stream, makes a session object that lives until its client deletes it or it idles for a day, and
 * most clients never delete theirs. A session is registered when it begins, touched when its idle alarm is pushed
 * back, and forgotten when it ends; past the user's limit the least recently used are evicted (their clients, told
 * the session is not found, initialize a new one, as the protocol asks).
 */
export class UserSessions extends DurableObject<EdgeEnv> {
  /**
   * Registers a session that has just begun; returns the ids of the sessions it pushes past `limit`, least recently
   * used first, which the caller ends (they are forgotten here already). Entries older than `staleAfterMs` are
   * dropped unasked: their sessions' own idle alarms have ended them.
   */
  async admit(sessionId: string, limit: number, staleAfterMs: number): Promise<string[]> {
    const now = Date.now();
    this.ctx.storage.kv.put(`${KEY_PREFIX}${sessionId}`, now);
    const live: [id: string, usedAt: number][] = [];
    for (const [key, usedAt] of this.ctx.storage.kv.list<number>({ prefix: KEY_PREFIX })) {
      const id = key.slice(KEY_PREFIX.length);
      if (now - usedAt > staleAfterMs) this.ctx.storage.kv.delete(key);
      else live.push([id, usedAt]);
    }
    if (live.length <= limit) return [];
    const evicted = live
      .filter(([id]) => id !== sessionId)
      .sort((a, b) => a[1] - b[1])
      .slice(0, live.length - limit)
      .map(([id]) => id);
    for (const id of evicted) this.ctx.storage.kv.delete(`${KEY_PREFIX}${id}`);
    return evicted;
  }

  /** The session was used: it is the last to be evicted. One that was dropped meanwhile is registered again. */
  async touch(sessionId: string): Promise<void> {
    this.ctx.storage.kv.put(`${KEY_PREFIX}${sessionId}`, Date.now());
  }

  /** The session ended. */
  async forget(sessionId: string): Promise<void> {
    this.ctx.storage.kv.delete(`${KEY_PREFIX}${sessionId}`);
  }
}
