import { type AuditEvent, fitText } from "../../../contract/audit-event.ts";
import { wellFormed } from "../../../contract/well-formed.ts";
import { canonicalJson } from "./chain/canonical-json.ts";

type Field = keyof AuditEvent;

/** Each event field, its column, and the Postgres type its array parameter is cast to. */
export const COLUMNS = [
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
  ["arguments", "arguments", "text"],
] as const satisfies readonly (readonly [Field, string, string])[];

export const COLUMN_LIST = COLUMNS.map(([, column]) => column).join(", ");

/** A stored value: what a column holds, as `pg` hands it back (text, number, or null). */
export type ColumnValue = string | number | null;

/** Time as `toISOString` writes it, which the column gives back unchanged. */
const ISO_UTC_MILLISECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const INT4_MIN = -2_147_483_648;
const INT4_MAX = 2_147_483_647;

/**
 * An event's values as its columns hold them, in {@link COLUMNS} order. One value a column cannot take would fail
 * the whole batch on every redelivery, and the queue would finally drop all its events, so instead: a NUL character
 * (which Postgres text cannot contain) and a lone surrogate (which UTF-8 cannot: Postgres would store U+FFFD, not what
 * was hashed, and the row would read as tampered with) become U+FFFD, text over MAX_AUDIT_TEXT_BYTES of UTF-8 is cut
 * as the edge cuts it (an indexed column refuses a row whose entry is over 2704 bytes; an older edge or another
 * producer may send more), an integer outside the 32-bit range of an int column (an upstream's odd JSON-RPC error
 * code) is stored as NULL, the id is lowercased and the time kept to the millisecond in UTC, as they read back;
 * arguments become canonical JSON text. The chain hashes exactly these values.
 */
export function storedValues(event: AuditEvent): ColumnValue[] {
  return COLUMNS.map(([field, , type]) => storable(field, event[field], type));
}

function storable(field: Field, value: AuditEvent[Field], type: string): ColumnValue {
  if (value === undefined) return null;
  if (field === "id") return (value as string).toLowerCase();
  if (field === "time") {
    const time = value as string;
    return ISO_UTC_MILLISECONDS.test(time) ? time : new Date(time).toISOString();
  }
  if (typeof value === "object") return canonicalJson(value);
  if (typeof value === "string") return fitText(wellFormed(value.includes("\0") ? value.replaceAll("\0", "\uFFFD") : value));
  if (type === "int" && (value < INT4_MIN || value > INT4_MAX)) return null;
  return value;
}

/** A row's values in {@link COLUMNS} order, as {@link storedValues} made them (a Date back to its ISO text). */
export function rowValues(row: Record<string, unknown>): ColumnValue[] {
  return COLUMNS.map(([, column]) => {
    const value = row[column];
    if (value === null || value === undefined) return null;
    return value instanceof Date ? value.toISOString() : (value as string | number);
  });
}

/** A row back in the event's shape: camelCase fields, absent where the column is NULL, `time` in ISO 8601 (milliseconds, UTC). */
export function toEvent(row: Record<string, unknown>): AuditEvent {
  const event: Record<string, unknown> = {};
  rowValues(row).forEach((value, index) => {
    const [field] = COLUMNS[index] as (typeof COLUMNS)[number];
    if (value === null) return;
    event[field] = field === "arguments" ? JSON.parse(value as string) : value;
  });
  return event as AuditEvent;
}
