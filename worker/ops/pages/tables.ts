import type { CallFigures, TailCall } from "../../../contract/ops-stats.ts";
import { escapeHtml } from "../../auth/html.ts";
import { formatCount, formatMs, formatShare, formatTime } from "./format.ts";

export interface Column<Row> {
  heading: string;
  cell: (row: Row) => string;
  /** Numbers line up on the right. */
  numeric?: boolean;
  /** `bad` draws the eye to this row's cell (red, as a tile's). */
  tone?: (row: Row) => "bad" | undefined;
}

/** A cell's class attribute: aligned if numeric, red if its tone says so. */
function cellClass<Row>(column: Column<Row>, row?: Row): string {
  const classes = [column.numeric && "num", row !== undefined && column.tone?.(row)].filter(Boolean);
  return classes.length ? ` class="${classes.join(" ")}"` : "";
}

/** A captioned table; cells are escaped here. An empty table says so instead of showing no rows. */
export function table<Row>(caption: string, columns: Column<Row>[], rows: readonly Row[], attributes = ""): string {
  const head = columns.map((column) => `<th scope="col"${cellClass(column)}>${escapeHtml(column.heading)}</th>`);
  const body = rows.length
    ? rows.map(
        (row) =>
          `<tr>${columns.map((column) => `<td${cellClass(column, row)}>${escapeHtml(column.cell(row))}</td>`).join("")}</tr>`,
      )
    : [`<tr><td colspan="${columns.length}" class="empty">Nothing in this window.</td></tr>`];
  return `<table${attributes}><caption>${escapeHtml(caption)}</caption><thead><tr>${head.join("")}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

/** The columns every per-server and per-tool row shares. */
export const figureColumns = <Row extends CallFigures>(): Column<Row>[] => [
  { heading: "Calls", cell: (row) => formatCount(row.calls), numeric: true },
  { heading: "Error rate", cell: (row) => formatShare(row.errors, row.calls), numeric: true },
  { heading: "p50", cell: (row) => formatMs(row.p50Ms), numeric: true },
  { heading: "p95", cell: (row) => formatMs(row.p95Ms), numeric: true },
];

/** The live tail's columns; its script fills the same ones (worker/ops/pages/tail-script.ts). */
export const TAIL_COLUMNS: Column<TailCall>[] = [
  { heading: "Time (UTC)", cell: (call) => formatTime(call.time) + call.time.slice(16, 19) },
  { heading: "User", cell: (call) => call.user ?? "" },
  { heading: "Client", cell: (call) => call.client ?? "" },
  { heading: "Server", cell: (call) => call.server ?? "" },
  { heading: "Tool or method", cell: (call) => call.tool ?? call.method ?? "" },
  { heading: "Outcome", cell: (call) => call.outcome },
  { heading: "Latency", cell: (call) => formatMs(call.latencyMs), numeric: true },
];
