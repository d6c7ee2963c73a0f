import { hashUserId } from "../../worker/analytics/user-hash.ts";
import { edgeConfig } from "../../worker/config.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import type { SessionIdentity } from "../../worker/mcp/bridge/session-record.ts";
import { SESSION_LIMIT_CODE } from "../../worker/mcp/bridge/session-server.ts";

/** A session nobody used for this long is deleted (its alarm fires); the client then re-initializes. */
const SESSION_IDLE_MS = 24 * 60 * 60 * 1000;
/** The idle alarm is pushed back at most this often, not on every request. */
const ALARM_REFRESH_MS = 60 * 60 * 1000;
/**
 * The user's registry hears of a session's use at most this often: enough to order its sessions by last use. A session
 * working now (a long call in flight) may still look the oldest: the registry asks it (McpSession.inFlight) before it
 * ends it past `sessionsPerUser`, so that a busy session costs nothing per call.
 */
const REGISTRY_TOUCH_MS = 60_000;
/** Where a session keeps when it was last used, written at most this often: its idle time is counted from there. */
const LAST_USE_KEY = "usedAt";
const LAST_USE_WRITE_MS = 60_000;
/** A session its user's registry has not heard of for this long has been ended by its own idle alarm. */
const REGISTERED_SESSION_STALE_MS = SESSION_IDLE_MS + ALARM_REFRESH_MS;

/**
 * How long a session lives: its idle alarm, pushed back as it is used, and its place among its user's sessions in their
 * registry (durable-objects/user-sessions.ts), which ends the least recently used ones past `sessionsPerUser`.
 */
export class SessionLifecycle {
  readonly #ctx: DurableObjectState;
  /** Read at each use: the object's env, as it is then. */
  readonly #env: () => EdgeEnv;
  /** When the idle alarm was last pushed back (at most hourly), and the registry told of a use (at most once a minute). */
  #usedNotedAt = 0;
  #registryToldAt = 0;
  /** When the session was last used, and when that was last written to storage (at most once a minute). */
  #lastUse = 0;
  #lastUseWritten = 0;

  /** Whether the alarm is set to look for held audits soon (AnswerAudits): the idle alarm must not push it back. */
  readonly #checkPending: () => boolean;

  constructor(ctx: DurableObjectState, env: () => EdgeEnv, checkPending: () => boolean) {
    this.#ctx = ctx;
    this.#env = env;
    this.#checkPending = checkPending;
  }

  /**
   * Remembers the use (in storage at most once a minute, for the alarm to find after an eviction), tells the user's
   * registry the session is in use (at most once a minute) and pushes the idle alarm back (at most hourly).
   */
  keepAlive(sub: string, sessionId: string): void {
    this.#lastUse = Date.now();
    if (this.#lastUse - this.#lastUseWritten >= LAST_USE_WRITE_MS) {
      this.#lastUseWritten = this.#lastUse;
      this.#ctx.storage.kv.put(LAST_USE_KEY, this.#lastUse);
    }
    if (!this.noteUse(sub, sessionId)) return;
    // The alarm sets the idle one itself once the held audits are recorded (idleUntilLater).
    if (this.#checkPending()) return;
    void this.#ctx.storage.setAlarm(Date.now() + SESSION_IDLE_MS);
  }

  /** Tells the user's registry the session is in use, at most once a minute; true when the idle alarm is due too (hourly). */
  noteUse(sub: string, sessionId: string): boolean {
    const now = Date.now();
    if (now - this.#registryToldAt >= REGISTRY_TOUCH_MS) {
      this.#registryToldAt = now;
      void this.tellRegistry(sub, "touch", sessionId);
    }
    if (now - this.#usedNotedAt < ALARM_REFRESH_MS) return false;
    this.#usedNotedAt = now;
    return true;
  }

  /**
   * The alarm is pushed back at most hourly: a session used since it was set is idle only 24 h after that last use,
   * and the alarm is set again for then. True when it was.
   */
  idleUntilLater(): boolean {
    const lastUse = Math.max(this.#lastUse, this.#ctx.storage.kv.get<number>(LAST_USE_KEY) ?? 0);
    const idleAt = lastUse + SESSION_IDLE_MS;
    if (idleAt <= Date.now()) return false;
    void this.#ctx.storage.setAlarm(idleAt);
    return true;
  }

  /**
   * Counts a new session among its user's and ends the least recently used ones past `sessionsPerUser`. The registry
   * being unreachable costs the bound, never the session. A session registered with no record stored is a 2024-11-05
   * stream (a 2025-era one stores its record before it registers; a stream's is never stored): the registry ends those
   * last, since their clients cannot begin again by themselves.
   */
  async register(caller: SessionIdentity, sessionId: string): Promise<void> {
    try {
      const limit = edgeConfig(this.#env()).sessionsPerUser;
      const registry = this.#userSessions(caller.sub);
      const stream = this.#ctx.storage.kv.get("record") === undefined;
      const evicted = await registry.admit(sessionId, caller.clientId, limit, REGISTERED_SESSION_STALE_MS, stream);
      const sessions = this.#env().MCP_SESSION;
      const ends = evicted.map(async ({ id, ifIdle, entry }) => {
        // Busy since the registry asked (a call began in between): it goes on, and counts again.
        if (!(await sessions.get(sessions.idFromName(id)).evict({ ifIdle }))) await registry.reinstate(id, entry);
      });
      for (const ended of await Promise.allSettled(ends))
        if (ended.status === "rejected")
          console.error(`a session past its user's limit could not be ended: ${String(ended.reason)}`);
    } catch (error) {
      console.error(`a new session could not be counted among its user's: ${String(error)}`);
    }
  }

  /** Tells the user's registry that a session was used or ended, in the background: missing it costs only the bound. */
  tellRegistry(sub: string, what: "touch" | "forget", sessionId: string): Promise<void> {
    return this.#userSessions(sub)
      [what](sessionId)
      .catch((error: unknown) => console.error(`a session's ${what} did not reach its user's registry: ${String(error)}`));
  }

  /**
   * The one line that says a session was ended because its user began more than `limit` (`sessionsPerUser`) sessions:
   * the operator's sign that the limit is hit. The user by their pseudonym (worker/analytics/user-hash.ts), never the
   * e-mail.
   */
  async logEndedForLimit(sub: string, limit: number, callsInFlight: number): Promise<void> {
    const who = await hashUserId(edgeConfig(this.#env()), sub).then(
      (hash) => `user ${hash}`,
      () => "a user (no pseudonym: the edge's hash key is unusable)",
    );
    console.warn(
      `a session was ended because ${who} opened more than sessionsPerUser (${limit}) sessions; ${callsInFlight} call(s) in flight were answered ${SESSION_LIMIT_CODE} saying so (raise sessionsPerUser if the user's clients need that many sessions at once)`,
    );
  }

  #userSessions(sub: string) {
    const env = this.#env();
    return env.USER_SESSIONS.get(env.USER_SESSIONS.idFromName(sub));
  }
}
