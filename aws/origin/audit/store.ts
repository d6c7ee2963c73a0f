import type pg from "pg";
import type { AuditEvent } from "../../../contract/audit-event.ts";
import { appendToChain, appendWithAction, type ChainHead } from "./chain/append.ts";
import { COLUMN_LIST, toEvent } from "./columns.ts";

export interface AuditStore {
  /**
   * Writes a batch as links of one hash chain, in one transaction. Events whose id is already stored are skipped, so
   * a batch the queue delivers again is neither written nor chained twice; `inserted` counts the rows really written.
   */
  insert(events: readonly AuditEvent[]): Promise<{ inserted: number }>;
  /**
   * Runs `act` in a transaction and writes the events it returns in the same one (fresh events, as {@link insert}
   * writes them): an operator's action is committed with its audit record or not at all.
   */
  insertWith<T>(act: (db: pg.PoolClient) => Promise<{ result: T; events: readonly AuditEvent[] }>): Promise<T>;
  /** The latest events by event time, newest first (at most {@link MAX_RECENT}). */
  recent(limit: number): Promise<AuditEvent[]>;
}

export interface AuditStoreOptions {
  /** Told each chain head a write produced, after its commit (the checkpoints follow heads). */
  onHead?: (head: ChainHead) => void;
}

/** The most rows `recent` returns. */
export const MAX_RECENT = 1000;

const RECENT = `SELECT ${COLUMN_LIST} FROM audit_events ORDER BY time DESC, id DESC LIMIT $1`;

export function createAuditStore(pool: pg.Pool, options: AuditStoreOptions = {}): AuditStore {
  return {
    async insert(events) {
      if (events.length === 0) return { inserted: 0 };
      const { inserted, head } = await appendToChain(pool, events);
      if (head) options.onHead?.(head);
      return { inserted };
    },

    async insertWith(act) {
      const { result, head } = await appendWithAction(pool, act);
      if (head) options.onHead?.(head);
      return result;
    },

    async recent(limit) {
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RECENT) {
        throw new RangeError(`limit must be an integer from 1 to ${MAX_RECENT}, got ${limit}`);
      }
      const result = await pool.query<Record<string, unknown>>(RECENT, [limit]);
      return result.rows.map(toEvent);
    },
  };
}
