import { OPS_WINDOW_NAMES, OPS_WINDOWS, type OpsStats, type OpsWindow, type TailCall } from "../../../contract/ops-stats.ts";
import { escapeHtml } from "../../auth/html.ts";
import type { UserProps } from "../../env.ts";
import type { AuditQueuesReading } from "../data/queue-depth.ts";
import { OPS_PATH } from "../paths.ts";
import { auditDelivery } from "./audit-delivery.ts";
import { callsChart, latencyChart } from "./charts.ts";
import { formatCount, formatMs, formatShare } from "./format.ts";
import { opsHeader, problem } from "./header.ts";
import { opsPage } from "./layout.ts";
import { type Column, figureColumns, TAIL_COLUMNS, table } from "./tables.ts";
import { type Tile, tileList } from "./tiles.ts";

/** The strategy's target: fewer than 1% of authentications refused. */
export const AUTH_FAILURE_TARGET = 0.01;

export interface DashboardView {
  company: string;
  user: UserProps;
  window: OpsWindow;
  /** The figures, or why they could not be read. */
  stats: OpsStats | { problem: string };
  tail: TailCall[] | { problem: string };
  sourceDescription: string;
  /** This session's CSRF token, for the header's sign-out. */
  csrf: string;
  /** The audit queues' backlog and dead letters, read apart from the figures (they still show when the origin is down). */
  auditQueues: AuditQueuesReading;
}

/** The whole dashboard, readable without script; only the live tail refreshes itself with it. */
export function dashboardPage(view: DashboardView): Response {
  const windows = OPS_WINDOW_NAMES.map((name) =>
    name === view.window
      ? `<a href="${OPS_PATH}?window=${name}" aria-current="page">${OPS_WINDOWS[name].label}</a>`
      : `<a href="${OPS_PATH}?window=${name}">${OPS_WINDOWS[name].label}</a>`,
  ).join("");
  const header = `${opsHeader(view.company, view.user, OPS_PATH, view.csrf)}
<nav aria-label="Time window">${windows}</nav>`;
  // Delivery shows even when the figures cannot be read: a down origin is when the queues fill.
  const delivery = auditDelivery("problem" in view.stats ? undefined : view.stats.deliveryLag, view.auditQueues);
  const figures =
    "problem" in view.stats
      ? `${problem("The figures could not be read", view.stats.problem)}${delivery}`
      : sections(view.stats, delivery);
  const tail = `<section aria-labelledby="tail"><h2 id="tail">Recent calls</h2>
<p class="note" id="tail-status" aria-live="polite">The newest calls${"problem" in view.tail ? "" : " (refreshed every 5 seconds while script runs)"}.</p>
${"problem" in view.tail ? problem("The recent calls could not be read", view.tail.problem) : table("Recent calls, newest first", TAIL_COLUMNS, view.tail, ' id="tail-table"')}</section>`;
  const body = `${header}<main><h1>MCP traffic, ${OPS_WINDOWS[view.window].label}</h1>
<p class="note">${escapeHtml(view.sourceDescription)}</p>${figures}${tail}</main>`;
  return opsPage(`Ops dashboard: ${OPS_WINDOWS[view.window].label}`, body, { withTail: !("problem" in view.tail) });
}

function sections(stats: OpsStats, delivery: string): string {
  // No request at all (the summary's calls leave a session's bookkeeping out; the chart counts every request).
  const empty = stats.series.every((bucket) => bucket.calls === 0);
  return `${empty ? '<p class="empty-state">No traffic in this window yet. Calls appear here as soon as MCP clients use the proxy.</p>' : ""}
${summary(stats)}${delivery}
<section aria-labelledby="over-time"><h2 id="over-time">Calls over time</h2>${callsChart(stats.series)}</section>
${perServer(stats.servers)}
<section aria-labelledby="tools"><h2 id="tools">Per tool</h2>
${table("Busiest tools", [{ heading: "Server", cell: (row) => row.server }, { heading: "Tool", cell: (row) => row.tool }, ...figureColumns<OpsStats["tools"][number]>()], stats.tools)}</section>
<section aria-labelledby="who" class="pair"><h2 id="who">Top users and clients</h2>
${table(
  "Top users",
  [
    { heading: "User", cell: (row) => row.user },
    { heading: "Calls", cell: (row) => formatCount(row.calls), numeric: true },
  ],
  stats.topUsers,
)}
${table(
  "Top clients",
  [
    { heading: "Client", cell: (row) => row.client },
    { heading: "Calls", cell: (row) => formatCount(row.calls), numeric: true },
  ],
  stats.topClients,
)}</section>`;
}

type ServerRow = OpsStats["servers"][number];

/**
 * Latency bars and the per-server table, with how often the aggregated `/mcp` answered without each server (red above
 * 0: its users lost its tools without an error), when the source records it; else a sentence saying it does not.
 */
function perServer(servers: OpsStats["servers"]): string {
  // Every row says null when the source cannot tell; with no rows at all, the column shows empty.
  const known = servers.length === 0 || servers.some((row) => typeof row.leftOut === "number");
  const leftOut: Column<ServerRow> = {
    heading: "Left out of /mcp",
    cell: (row) => (typeof row.leftOut === "number" ? formatCount(row.leftOut) : "–"),
    numeric: true,
    tone: (row) => ((row.leftOut ?? 0) > 0 ? "bad" : undefined),
  };
  const columns = [{ heading: "Server", cell: (row: ServerRow) => row.server || "(none)" }, ...figureColumns<ServerRow>()];
  const unrecorded = '<p class="note">This source does not record servers left out of <code>/mcp</code> answers.</p>';
  return `<section aria-labelledby="servers"><h2 id="servers">Per server</h2>${latencyChart(servers)}
${table("Calls per server", known ? [...columns, leftOut] : columns, servers)}${known ? "" : unrecorded}</section>`;
}

/** What the Calls tile counts: requests that do work, the session's bookkeeping apart (contract BOOKKEEPING_METHODS). */
function callsDetail(bookkeeping: number | undefined): string {
  const apart = "session requests (initialize, notifications, streams)";
  const left = bookkeeping === undefined ? `not ${apart}` : `${formatCount(bookkeeping)} ${apart} not counted`;
  return `MCP requests that do work (tool calls, reads, prompts, lists, completions); ${left}`;
}

/** The tiles: each a figure and what it means. */
function summary(stats: OpsStats): string {
  const { attempts, failures } = stats.auth;
  const overTarget = attempts > 0 && failures / attempts >= AUTH_FAILURE_TARGET;
  const authVerdict = attempts === 0 ? "no authentications" : overTarget ? "above the 1% target" : "within the 1% target";
  const tiles: Tile[] = [
    ["Calls", formatCount(stats.totals.calls), callsDetail(stats.bookkeeping)],
    [
      "Error rate",
      formatShare(stats.totals.errors, stats.totals.calls),
      `${formatCount(stats.totals.errors)} of these calls not ok`,
    ],
    ["Latency", `${formatMs(stats.totals.p50Ms)} / ${formatMs(stats.totals.p95Ms)}`, "p50 / p95 of these calls"],
    [
      "Auth failures",
      formatShare(failures, attempts),
      `${formatCount(failures)} of ${formatCount(attempts)}: ${authVerdict}`,
      overTarget ? "bad" : undefined,
    ],
    [
      "Rate-limited",
      formatCount(stats.rateLimited.auth + stats.rateLimited.mcp),
      `${formatCount(stats.rateLimited.mcp)} MCP, ${formatCount(stats.rateLimited.auth)} sign-in requests`,
    ],
  ];
  return `<section aria-labelledby="summary"><h2 id="summary">Summary</h2>${tileList(tiles)}</section>`;
}
