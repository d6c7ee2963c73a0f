/** How long an administrator's search, once recorded, is not recorded again when asked again unchanged. */
export const REPEAT_WINDOW_MS = 10 * 60_000;
/** At most this many recent searches are remembered; past it the oldest is forgotten (and would be recorded again). */
const REMEMBERED = 1_000;

/**
 * The searches of the audit trail recorded lately, by who asked and what: the same search by the same administrator
 * within REPEAT_WINDOW_MS of its record is served without another. The dashboard's live tail asks one search every
 * five seconds: each recorded, an open tab wrote 720 rows an hour into the hash-chained trail, and moved the figures
 * the dashboard shows (s24 hunt observability F10). What the trail keeps is who searched for what, to the window.
 * A search is remembered only once its record is stored, so one that could not be recorded is never served unrecorded
 * later. Per origin process: with several instances, each records the first it serves.
 */
export class RepeatedSearches {
  readonly #recordedAt = new Map<string, number>();

  /** Whether `query` by `sub` must be recorded before it is served. */
  due(sub: string, query: string, now = Date.now()): boolean {
    const recordedAt = this.#recordedAt.get(keyOf(sub, query));
    return recordedAt === undefined || now - recordedAt >= REPEAT_WINDOW_MS;
  }

  /** Its record is stored. */
  recorded(sub: string, query: string, now = Date.now()): void {
    const key = keyOf(sub, query);
    this.#recordedAt.delete(key);
    this.#recordedAt.set(key, now);
    const oldest = this.#recordedAt.keys().next();
    if (this.#recordedAt.size > REMEMBERED && !oldest.done) this.#recordedAt.delete(oldest.value);
  }
}

const keyOf = (sub: string, query: string) => JSON.stringify([sub, query]);
