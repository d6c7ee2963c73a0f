import { DurableObject } from "cloudflare:workers";
import type { EdgeEnv } from "../worker/env.ts";

const KEY_PREFIX = "session:";

/**
 * A registered session: when it was last used, through which OAuth client, whether it is a 2024-11-05 stream, and
 * whether a call of it is in flight (`busy`, as of its latest word, stamped `markedAt`).
 */
interface Registered {
  usedAt: number;
  clientId: string;
  stream?: true;
  busy?: true;
  markedAt?: number;
}

/**
 * One user's live sessions (one object per user), so that their number is bounded: every `initialize`, and every
 * 2024-11-05 stream, makes a session object that lives until its client deletes it or it idles for a day, and most
 * clients never delete theirs. A session is registered when it begins, touched as it is used (at most once a minute),
 * told when it turns busy (a call in flight) and idle again, and forgotten when it ends; past the user's limit the
 * least recently used are evicted, the new session's own client's first (a client re-initializing on every call ends
 * its own sessions, not its user's other clients'), and never a busy one while an idle one is left. When every other
 * session is busy, the least recently used of them is ended anyway: the limit bounds what a user holds, and a busy
 * word left by an object that restarted mid-call (it says idle only once used again) must not keep a session past it.
 * A 2025-era client, told its session is not found, initializes a new one, as the protocol asks. A 2024-11-05 client
 * cannot: its transport has no way to be told to begin again (its next POST is refused until it is restarted), so
 * open 2024-11-05 streams are evicted last, only when the user's other sessions are not enough; they end with their
 * stream anyway.
 */
export class UserSessions extends DurableObject<EdgeEnv> {
  /**
   * Registers a session that has just begun (`stream`: a 2024-11-05 stream); returns the ids of the sessions it pushes
   * past `limit`, which the caller ends (they are forgotten here already). Entries older than `staleAfterMs` are
   * dropped unasked: their sessions' own idle alarms have ended them.
   */
  async admit(sessionId: string, clientId: string, limit: number, staleAfterMs: number, stream = false): Promise<string[]> {
    const now = Date.now();
    const entry: Registered = { usedAt: now, clientId, ...(stream && { stream: true as const }) };
    this.ctx.storage.kv.put(`${KEY_PREFIX}${sessionId}`, entry);
    const others: (Registered & { id: string })[] = [];
    let live = 0;
    for (const [key, entry] of this.ctx.storage.kv.list<Registered>({ prefix: KEY_PREFIX })) {
      if (now - entry.usedAt > staleAfterMs) {
        this.ctx.storage.kv.delete(key);
        continue;
      }
      live++;
      const id = key.slice(KEY_PREFIX.length);
      if (id !== sessionId) others.push({ ...entry, id });
    }
    if (live <= limit) return [];
    const evicted = others
      .sort(
        (a, b) =>
          Number(a.busy === true) - Number(b.busy === true) ||
          Number(a.stream === true) - Number(b.stream === true) ||
          Number(a.clientId !== clientId) - Number(b.clientId !== clientId) ||
          a.usedAt - b.usedAt,
      )
      .slice(0, live - limit)
      .map(({ id }) => id);
    for (const id of evicted) this.ctx.storage.kv.delete(`${KEY_PREFIX}${id}`);
    return evicted;
  }

  /**
   * The session was used: it is the last of its client's to be evicted. One no longer registered (ended, or dropped)
   * stays unregistered: a touch arriving after the session's end must not bring it back.
   */
  async touch(sessionId: string): Promise<void> {
    const key = `${KEY_PREFIX}${sessionId}`;
    const entry = this.ctx.storage.kv.get<Registered>(key);
    if (entry) this.ctx.storage.kv.put(key, { ...entry, usedAt: Date.now() });
  }

  /**
   * The session turned busy (a first call in flight) or idle (its last call answered), as of `stamp`, which grows with
   * each word of the session: a word that arrives after a later one is dropped. Both are a use. One no longer
   * registered stays unregistered, as for `touch`.
   */
  async mark(sessionId: string, busy: boolean, stamp: number): Promise<void> {
    const key = `${KEY_PREFIX}${sessionId}`;
    const entry = this.ctx.storage.kv.get<Registered>(key);
    if (!entry || (entry.markedAt ?? 0) >= stamp) return;
    const { busy: _was, ...rest } = entry;
    this.ctx.storage.kv.put(key, { ...rest, usedAt: Date.now(), markedAt: stamp, ...(busy && { busy: true as const }) });
  }

  /** The session ended. */
  async forget(sessionId: string): Promise<void> {
    this.ctx.storage.kv.delete(`${KEY_PREFIX}${sessionId}`);
  }
}
