import type { EdgeConfig } from "../../../../contract/config/schema.ts";
import { OPS_WINDOWS, type OpsStats, type OpsWindow, type TailCall } from "../../../../contract/ops-stats.ts";
import type { OpsDataSource } from "../source.ts";
import { type OpsQueryName, opsQueries, tailQuery } from "./queries.ts";
import { cloudflareSqlUrl, runSql, type SqlRow } from "./sql-api.ts";

type AnalyticsEngineConfig = NonNullable<EdgeConfig["ops"]["analyticsEngine"]>;

const number = (value: SqlRow[string] | undefined): number => (value === null || value === undefined ? 0 : Number(value));
// A quantile over no rows is NaN in ClickHouse's SQL (written as null or "nan"): unknown, not zero.
const millis = (value: SqlRow[string] | undefined): number | null => {
  const parsed = value === null || value === undefined ? Number.NaN : Number(value);
  return Number.isFinite(parsed) ? parsed : null;
};
const figures = (row: SqlRow | undefined) => ({
  calls: number(row?.calls),
  errors: number(row?.errors),
  p50Ms: row && number(row.calls) > 0 ? millis(row.p50) : null,
  p95Ms: row && number(row.calls) > 0 ? millis(row.p95) : null,
});
/** The API writes DateTime as `YYYY-MM-DD hh:mm:ss` in UTC. */
const isoTime = (value: SqlRow[string] | undefined): string => `${String(value ?? "").replace(" ", "T")}Z`;

/** Workers Analytics Engine's SQL API: production traffic, sampled at high volume; users only as pseudonymous hashes. */
export function analyticsEngineSource(config: AnalyticsEngineConfig): OpsDataSource {
  const api = { url: config.sqlUrl ?? cloudflareSqlUrl(config.accountId), apiToken: config.apiToken };
  return {
    description:
      "Figures from Workers Analytics Engine (sampled at high volume, so counts are estimates); users appear as pseudonymous hashes, and neither delivery lag nor servers left out of /mcp answers are recorded there.",
    async stats(window) {
      const until = alignedNow(window);
      const queries = opsQueries(config.dataset, window, until);
      const names = Object.keys(queries) as OpsQueryName[];
      const answers = await Promise.all(names.map((name) => runSql(api, queries[name])));
      const rows = Object.fromEntries(names.map((name, index) => [name, answers[index] ?? []])) as Record<OpsQueryName, SqlRow[]>;
      return toStats(window, until, rows);
    },
    async tail(limit) {
      const rows = await runSql(api, tailQuery(config.dataset, limit));
      return rows.map(
        (row): TailCall => ({
          time: isoTime(row.timestamp),
          user: String(row.user ?? "") || undefined,
          client: String(row.client ?? "") || undefined,
          server: String(row.server ?? "") || undefined,
          tool: String(row.tool ?? "") || undefined,
          method: String(row.method ?? "") || undefined,
          outcome: String(row.outcome ?? ""),
          latencyMs: number(row.latency),
        }),
      );
    },
  };
}

/** Now, rounded up to the window's bucket, so the API's epoch-aligned intervals are exactly the page's buckets. */
function alignedNow(window: OpsWindow): number {
  const bucket = OPS_WINDOWS[window].bucketSeconds;
  return Math.ceil(Date.now() / 1000 / bucket) * bucket;
}

function toStats(window: OpsWindow, until: number, rows: Record<OpsQueryName, SqlRow[]>): OpsStats {
  const { seconds, bucketSeconds } = OPS_WINDOWS[window];
  const since = until - seconds;
  const buckets = new Map(rows.series.map((row) => [Date.parse(isoTime(row.start)) / 1000, row]));
  const other = rows.others[0];
  return {
    window,
    until: new Date(until * 1000).toISOString(),
    totals: figures(rows.totals[0]),
    bookkeeping: number(other?.bookkeeping),
    series: Array.from({ length: seconds / bucketSeconds }, (_, index) => {
      const start = since + index * bucketSeconds;
      const row = buckets.get(start);
      return { start: new Date(start * 1000).toISOString(), calls: number(row?.calls), errors: number(row?.errors) };
    }),
    // Servers left out of /mcp answers are recorded by the origin, in the audit trail only: the edge writes data points
    // for its own events, and sees the aggregated answer succeed. Unknown here, not zero.
    servers: rows.servers.map((row) => ({ server: String(row.server ?? ""), ...figures(row), leftOut: null })),
    tools: rows.tools.map((row) => ({ server: String(row.server ?? ""), tool: String(row.tool ?? ""), ...figures(row) })),
    auth: { attempts: number(other?.auth_attempts), failures: number(other?.auth_failures) },
    topUsers: rows.topUsers.map((row) => ({ user: String(row.user), calls: number(row.calls) })),
    topClients: rows.topClients.map((row) => ({ client: String(row.client), calls: number(row.calls) })),
    rateLimited: { auth: number(other?.auth_limited), mcp: number(other?.mcp_limited) },
    deliveryLag: null,
  };
}
