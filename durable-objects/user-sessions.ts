import { DurableObject } from "cloudflare:workers";
import type { EdgeEnv } from "../worker/env.ts";

const KEY_PREFIX = "session:";
/**
 * Past `sessionsPerUser`, the registry asks at most this many of the sessions it would end (least recently used first)
 * whether a call of theirs is in flight, and ends the first idle one. Bounded so that admitting a session costs at most
 * this many object requests however many sessions the user holds (up to 10,000); they are asked at once, so its
 * `initialize` waits IN_FLIGHT_ANSWER_MS at most. When all those asked are busy, the least recently used is ended
 * anyway: the limit always holds.
 */
export const IN_FLIGHT_ASKS = 8;
/**
 * How long a session object has to say whether a call is in flight: one that does not answer by then counts as idle
 * (a live object answers from memory in milliseconds; one that does not answer cannot be relied on to keep the limit).
 */
export const IN_FLIGHT_ANSWER_MS = 1_000;

/** A registered session: when it was last used, through which OAuth client, and whether it is a 2024-11-05 stream. */
export interface Registered {
  usedAt: number;
  clientId: string;
  stream?: true;
}

/**
 * A session an admission pushes past the limit. `ifIdle`: it said no call of it was in flight, so it is ended only if
 * that is still so when its end reaches it (a call may have begun since: McpSession.evict); otherwise it is ended
 * anyway. `entry` is what was registered, for putting it back when it turns out busy (reinstate).
 */
export interface Eviction {
  id: string;
  ifIdle: boolean;
  entry: Registered;
}

/**
 * One user's live sessions (one object per user), so that their number is bounded: every `initialize`, and every
 * 2024-11-05 stream, makes a session object that lives until its client deletes it or it idles for a day, and most
 * clients never delete theirs. A session is registered when it begins, touched as it is used (at most once a minute)
 * and forgotten when it ends; past the user's limit the least recently used are evicted, the new session's own
 * client's first (a client re-initializing on every call ends its own sessions, not its user's other clients'). A
 * session with a call in flight is passed over while an idle one is found: the registry asks the sessions it would end
 * (McpSession.inFlight, at most IN_FLIGHT_ASKS of them) only when it must end one, so that a call costs nothing here.
 * One found idle is ended only if it still is when its end reaches it (a call may begin in between); else it goes on
 * and is put back (reinstate): the user is one over the limit until their next admission. When every one asked is
 * busy, the least recently used of those not asked is ended (with none, the least recently used busy one): the limit
 * bounds what a user holds. A 2024-11-05 stream counts as busy while it owes its client an answer.
 * A 2025-era client, told its session is not found, initializes a new one, as the protocol asks. A 2024-11-05 client
 * cannot: its transport has no way to be told to begin again (its next POST is refused until it is restarted), so
 * open 2024-11-05 streams are evicted last, only when the user's other sessions are not enough; they end with their
 * stream anyway.
 */
export class UserSessions extends DurableObject<EdgeEnv> {
  /**
   * Registers a session that has just begun (`stream`: a 2024-11-05 stream); returns the sessions it pushes past
   * `limit`, which the caller ends (they are forgotten here already; one found busy at its end is put back). Entries
   * older than `staleAfterMs` are dropped unasked: their sessions' own idle alarms have ended them. Admissions are taken one at a time (asking the
   * sessions included), so that two at once cannot both count themselves within the limit.
   */
  async admit(sessionId: string, clientId: string, limit: number, staleAfterMs: number, stream = false): Promise<Eviction[]> {
    return this.ctx.blockConcurrencyWhile(async () => {
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
      const order = others.sort(
        (a, b) =>
          Number(a.stream === true) - Number(b.stream === true) ||
          Number(a.clientId !== clientId) - Number(b.clientId !== clientId) ||
          a.usedAt - b.usedAt,
      );
      const evicted = await this.#idleFirst(order, live - limit);
      for (const { id } of evicted) this.ctx.storage.kv.delete(`${KEY_PREFIX}${id}`);
      return evicted;
    });
  }

  /**
   * `count` of the sessions in `order` (the first to end first): the first idle ones among the IN_FLIGHT_ASKS first,
   * asked all at once (an admission waits for one IN_FLIGHT_ANSWER_MS at most, not one per session asked); then those
   * not asked, which may be idle, in order; then the busy ones, least recently used first (s25 review F6).
   */
  async #idleFirst(order: (Registered & { id: string })[], count: number): Promise<Eviction[]> {
    const asked = order.slice(0, IN_FLIGHT_ASKS);
    const busy = await Promise.all(asked.map(({ id }) => this.#inFlight(id)));
    const idle = asked.filter((_, index) => !busy[index]);
    const knownBusy = asked.filter((_, index) => busy[index]);
    const picked = [...idle, ...order.slice(IN_FLIGHT_ASKS), ...knownBusy].slice(0, count);
    return order
      .filter((session) => picked.includes(session))
      .map((session) => {
        const { id, ...entry } = session;
        return { id, ifIdle: idle.includes(session), entry };
      });
  }

  /** Whether session `id` says a call of it is in flight; one that fails or does not answer in time counts as idle. */
  async #inFlight(id: string): Promise<boolean> {
    const sessions = this.env.MCP_SESSION;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silent = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), IN_FLIGHT_ANSWER_MS);
    });
    try {
      const asked = sessions.get(sessions.idFromName(id)).inFlight();
      return await Promise.race([
        asked.then(
          (busy) => busy === true,
          () => false,
        ),
        silent,
      ]);
    } finally {
      clearTimeout(timer);
    }
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
   * Puts back a session an admission chose because it said it was idle, which a call reached before its end did
   * (s25 review F5): it goes on, and counts as used now. Until the next admission its user holds one session more
   * than the limit; that admission asks again.
   */
  async reinstate(sessionId: string, entry: Registered): Promise<void> {
    const key = `${KEY_PREFIX}${sessionId}`;
    if (this.ctx.storage.kv.get(key) === undefined) this.ctx.storage.kv.put(key, { ...entry, usedAt: Date.now() });
  }

  /** The session ended. */
  async forget(sessionId: string): Promise<void> {
    this.ctx.storage.kv.delete(`${KEY_PREFIX}${sessionId}`);
  }
}
