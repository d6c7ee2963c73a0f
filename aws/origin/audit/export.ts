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
 * One CSV cell. Text that a spreadsheet would run as a formula gets a leading apostrophe. Numbers come from numeric
 * columns and are written as they are: `-32603` is an error code, not a formula, and must stay a number.
 */
export function csvCell(value: string | number | undefined): string {
  if (value === undefined) return "";
  if (typeof value === "number") return String(value);
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(",")}\r\n`;
}

export function csvRecord(event: AuditEvent): string {
  return `${CSV_COLUMNS.map((column) => csvCell(event[column])).join(",")}\r\n`;
}

export function jsonLine(event: AuditEvent): string {
  return `${JSON.stringify(event)}\n`;
}

/** The export as text chunks, one per page of events (the CSV header first, even when nothing matched). */
export async function* serializeEvents(pages: AsyncIterable<AuditEvent[]>, format: ExportFormat): AsyncGenerator<string> {
  if (format === "csv") yield csvHeader();
  const record = format === "csv" ? csvRecord : jsonLine;
  for await (const page of pages) yield page.map(record).join("");
}
