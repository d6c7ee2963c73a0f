import type { OpsStats } from "../../../contract/ops-stats.ts";
import { escapeHtml } from "../../auth/html.ts";
import { formatCount, formatMs, formatTime } from "./format.ts";

// Charts drawn on the server as SVG: no script, no library, colours from the style sheet's classes (light and dark).
const WIDTH = 720;
const HEIGHT = 180;
const LEFT = 48;
const BOTTOM = 20;

/** Calls (and, over them, errors) per bucket of the window; the numbers are in its title and caption too. */
export function callsChart(series: OpsStats["series"]): string {
  const peak = Math.max(1, ...series.map((bucket) => bucket.calls));
  const plotWidth = WIDTH - LEFT;
  const plotHeight = HEIGHT - BOTTOM;
  const step = plotWidth / Math.max(1, series.length);
  const barWidth = Math.max(1, step * 0.8);
  const y = (value: number) => plotHeight - (plotHeight * value) / peak;
  const bars = series
    .map((bucket, index) => {
      const x = (LEFT + index * step).toFixed(1);
      const label = `${formatTime(bucket.start)}: ${formatCount(bucket.calls)} calls, ${formatCount(bucket.errors)} errors`;
      const calls = `<rect class="calls" x="${x}" y="${y(bucket.calls).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(plotHeight - y(bucket.calls)).toFixed(1)}"><title>${escapeHtml(label)}</title></rect>`;
      const errors = bucket.errors
        ? `<rect class="errors" x="${x}" y="${y(bucket.errors).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(plotHeight - y(bucket.errors)).toFixed(1)}"/>`
        : "";
      return calls + errors;
    })
    .join("");
  const total = series.reduce((sum, bucket) => sum + bucket.calls, 0);
  const errors = series.reduce((sum, bucket) => sum + bucket.errors, 0);
  const first = series[0]?.start ?? "";
  const summary = `Calls over time: ${formatCount(total)} calls and ${formatCount(errors)} errors, at most ${formatCount(peak)} in one interval, from ${formatTime(first)} UTC.`;
  return `<figure><svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(summary)}" class="chart">
<line class="axis" x1="${LEFT}" y1="${plotHeight}" x2="${WIDTH}" y2="${plotHeight}"/>
<text class="label" x="${LEFT - 6}" y="12" text-anchor="end">${formatCount(peak)}</text>
<text class="label" x="${LEFT - 6}" y="${plotHeight}" text-anchor="end">0</text>
<text class="label" x="${LEFT}" y="${HEIGHT - 4}">${escapeHtml(formatTime(first))}</text>
<text class="label" x="${WIDTH}" y="${HEIGHT - 4}" text-anchor="end">now</text>
${bars}</svg>
<figcaption><span class="key calls"></span> calls <span class="key errors"></span> errors, per interval (UTC)</figcaption></figure>`;
}

/** p50 and p95 latency per server as horizontal bars, the slowest p95 setting the scale. */
export function latencyChart(servers: OpsStats["servers"]): string {
  const rows = servers.filter((row) => row.p95Ms !== null).slice(0, 12);
  if (!rows.length) return "";
  const peak = Math.max(1, ...rows.map((row) => row.p95Ms ?? 0));
  const rowHeight = 26;
  const nameWidth = 150;
  const plotWidth = WIDTH - nameWidth - 90;
  const bars = rows
    .map((row, index) => {
      const top = index * rowHeight;
      const width = (value: number | null) => ((plotWidth * (value ?? 0)) / peak).toFixed(1);
      return `<text class="label" x="${nameWidth - 6}" y="${top + 17}" text-anchor="end">${escapeHtml(row.server || "(none)")}</text>
<rect class="p95" x="${nameWidth}" y="${top + 4}" width="${width(row.p95Ms)}" height="18"><title>${escapeHtml(`${row.server}: p95 ${formatMs(row.p95Ms)}`)}</title></rect>
<rect class="p50" x="${nameWidth}" y="${top + 9}" width="${width(row.p50Ms)}" height="8"><title>${escapeHtml(`${row.server}: p50 ${formatMs(row.p50Ms)}`)}</title></rect>
<text class="label" x="${nameWidth + Number(width(row.p95Ms)) + 6}" y="${top + 17}">${escapeHtml(formatMs(row.p95Ms))}</text>`;
    })
    .join("");
  const height = rows.length * rowHeight + 4;
  const summary = `Latency per server: ${rows.map((row) => `${row.server} p50 ${formatMs(row.p50Ms)}, p95 ${formatMs(row.p95Ms)}`).join("; ")}.`;
  return `<figure><svg viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${escapeHtml(summary)}" class="chart">${bars}</svg>
<figcaption><span class="key p95"></span> p95 <span class="key p50"></span> p50 latency per server</figcaption></figure>`;
}
