import type { AuditEvent } from "../../../contract/audit-event.ts";

/**
 * Export formats. `csv`: RFC 4180 with a header row and CRLF line ends. `json`: NDJSON, one event object per line
 * (LF), the same fields as the stored event; chosen over one JSON array so that an export can be streamed, cut at any
 * line and read line by line (`jq -c`, `grep`) without holding it whole.
 */
export const EXPORT_FORMATS = ["csv", "json"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  json: "application/x-ndjson; charset=utf-8",
};

/** The CSV columns, named like the event's fields; an absent field is an empty cell. */
export const CSV_COLUMNS = [
  "id",
  "time",
  "kind",
  "userSub",
  "userEmail",
  "clientId",
  "server",
  "method",
  "tool",
  "outcome",
  "errorCode",
  "httpStatus",
  "latencyMs",
  "requestBytes",
  "responseBytes",
  "protocolVersion",
  "count",
] as const satisfies readonly (keyof AuditEvent)[];

// A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection").
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * Characters a terminal or a text viewer acts on instead of showing: C0 controls but tab and line feed, DEL, C1
 * controls (U+009B is a one-character CSI), and the bidirectional marks, embeddings, overrides and isolates
 * (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069), plus the line and paragraph separators. Clients choose the
 * text of tool names, methods, client ids and servers: an escape sequence in one, exported to a terminal, can erase
 * the rows printed before it or retitle the window, and a bidi override shows a name reversed.
 */
const ACTIVE_RANGES = "\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069";
const ACTIVE_IN_CSV = new RegExp(`[${ACTIVE_RANGES}]`, "g");
/** The same without C0 controls, which JSON.stringify escapes already. */
const ACTIVE_IN_JSON = new RegExp(`[${ACTIVE_RANGES.slice(ACTIVE_RANGES.indexOf("\\u007f"))}]`, "g");

/** `\u001b` for ESC, as JSON writes it: visible, and inert in a terminal. */
const escaped = (character: string) => `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * One CSV cell. Characters a terminal acts on are written as `\uXXXX` (the stored text is unchanged; the NDJSON
 * export gives it exactly); line feeds and tabs stay, as data. Text that a spreadsheet would run as a formula gets a
 * leading apostrophe. Numbers come from numeric columns and are written as they are: `-32603` is an error code, not a
 * formula, and must stay a number.
 */
export function csvCell(value: string | number | undefined): string {
  if (value === undefined) return "";
  if (typeof value === "number") return String(value);
  const inert = value.replace(ACTIVE_IN_CSV, escaped);
  const text = FORMULA_START.test(inert) ? `'${inert}` : inert;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(",")}\r\n`;
}

export function csvRecord(event: AuditEvent): string {
  return `${CSV_COLUMNS.map((column) => csvCell(event[column])).join(",")}\r\n`;
}

/**
 * One NDJSON line. JSON.stringify escapes C0 controls but writes C1 and bidi controls as they are; they can only be
 * inside strings, where `\uXXXX` is the same text to a JSON reader and inert on a terminal.
 */
export function jsonLine(event: AuditEvent): string {
  return `${JSON.stringify(event).replace(ACTIVE_IN_JSON, escaped)}\n`;
}

/** The export as text chunks, one per page of events (the CSV header first, even when nothing matched). */
export async function* serializeEvents(pages: AsyncIterable<AuditEvent[]>, format: ExportFormat): AsyncGenerator<string> {
  if (format === "csv") yield csvHeader();
  const record = format === "csv" ? csvRecord : jsonLine;
  for await (const page of pages) yield page.map(record).join("");
}
