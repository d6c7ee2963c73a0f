import type pg from "pg";
import type { AuditEvent } from "../../../contract/audit-event.ts";

export interface AuditStore {
  /**
   * Writes a batch in one statement. Events whose id is already stored are skipped, so a batch the
   * queue delivers again inserts nothing twice; `inserted` counts the rows really written.
   */
  insert(events: readonly AuditEvent[]): Promise<{ inserted: number }>;
  /** The latest events by event time, newest first (at most {@link MAX_RECENT}). */
  recent(limit: number): Promise<AuditEvent[]>;
}

/** The most rows `recent` returns. */
export const MAX_RECENT = 1000;

type Field = keyof AuditEvent;

/** Each event field, its column, and the Postgres type its array parameter is cast to. */
const COLUMNS = [
  ["id", "id", "uuid"],
  ["time", "time", "timestamptz"],
  ["kind", "kind", "text"],
  ["userSub", "user_sub", "text"],
  ["userEmail", "user_email", "text"],
  ["clientId", "client_id", "text"],
  ["server", "server", "text"],
  ["method", "method", "text"],
  ["tool", "tool", "text"],
  ["outcome", "outcome", "text"],
  ["errorCode", "error_code", "int"],
  ["httpStatus", "http_status", "int"],
  ["latencyMs", "latency_ms", "double precision"],
  ["requestBytes", "request_bytes", "int"],
  ["responseBytes", "response_bytes", "int"],
  ["protocolVersion", "protocol_version", "text"],
  ["count", "count", "int"],
] as const satisfies readonly (readonly [Field, string, string])[];

const COLUMN_LIST = COLUMNS.map(([, column]) => column).join(", ");

// One parameter per column, each an array holding that column for every event: the statement text
// is the same for any batch size (one cached plan) and far from the 65,535-parameter limit.
const INSERT = `INSERT INTO audit_events (${COLUMN_LIST})
SELECT * FROM unnest(${COLUMNS.map(([, , type], i) => `$${i + 1}::${type}[]`).join(", ")})
ON CONFLICT (id) DO NOTHING`;

const RECENT = `SELECT ${COLUMN_LIST} FROM audit_events ORDER BY time DESC, id DESC LIMIT $1`;

const INT4_MIN = -2_147_483_648;
const INT4_MAX = 2_147_483_647;

export function createAuditStore(pool: pg.Pool): AuditStore {
  return {
    async insert(events) {
      if (events.length === 0) return { inserted: 0 };
      const parameters = COLUMNS.map(([field, , type]) => events.map((event) => storable(event[field], type)));
      const result = await pool.query(INSERT, parameters);
      return { inserted: result.rowCount ?? 0 };
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

/**
 * A value as its column can hold it. One value the column cannot take would fail the whole batch
 * on every redelivery, and the queue would finally drop all its events, so instead: a NUL
 * character (which Postgres text cannot contain) becomes U+FFFD, and an integer outside the
 * 32-bit range of an int column (an upstream's odd JSON-RPC error code) is stored as NULL.
 */
function storable(value: AuditEvent[Field], type: string): string | number | null {
  if (value === undefined) return null;
  if (typeof value === "string") return value.includes("\0") ? value.replaceAll("\0", "\uFFFD") : value;
  if (type === "int" && (value < INT4_MIN || value > INT4_MAX)) return null;
  return value;
}

/** A row back in the event's shape: camelCase fields, absent where the column is NULL, `time` in ISO 8601 (milliseconds, UTC). */
function toEvent(row: Record<string, unknown>): AuditEvent {
  const event: Record<string, unknown> = {};
  for (const [field, column] of COLUMNS) {
    const value = row[column];
    if (value === null || value === undefined) continue;
    event[field] = value instanceof Date ? value.toISOString() : value;
  }
  return event as AuditEvent;
}
