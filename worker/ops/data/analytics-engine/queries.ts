import { OPS_TOP_ROWS, OPS_WINDOWS, type OpsWindow, workMethodSql } from "../../../../contract/ops-stats.ts";

/**
 * The dashboard's questions in Analytics Engine's SQL, over the edge's data points (worker/analytics/layout.ts:
 * blob1 kind, blob2 server, blob3 method, blob4 tool (or prompt, or resource URI), blob5 outcome, blob6 client, blob8 user hash; double1 latency,
 * double6 requests the point stands for). Each row stands for `_sample_interval` rows once sampled, so counts are
 * sums of it and percentiles are weighted by it. The dataset name is validated by the configuration (letters, digits,
 * underscores), so it can be written into the text.
 */
const CALL = "blob1 = 'mcp.request'";
// A 2026-07-28 round that only asked the user is followed by the call's own row (ok, or error when declined): counted,
// it would count every approved call twice and every approval prompt as an error. The live tail still shows it.
const COUNTED_CALL = `${CALL} AND blob5 != 'input_required'`;
const REQUESTS = "_sample_interval * double6";
// The summary's calls: those that do work, not a session's bookkeeping (contract/ops-stats.ts).
const WORK = workMethodSql("blob3");
const AUTH_FAILURE = "(blob1 = 'auth.denied' OR blob1 = 'auth.refresh_reuse')";
const FIGURES = `SUM(_sample_interval) AS calls, SUM(IF(blob5 != 'ok', _sample_interval, 0)) AS errors,
  quantileExactWeighted(0.5)(double1, _sample_interval) AS p50, quantileExactWeighted(0.95)(double1, _sample_interval) AS p95`;

export type OpsQueryName = "totals" | "servers" | "tools" | "series" | "topUsers" | "topClients" | "others";

/** Every query for one window that ends at `until` (a whole number of seconds since the epoch, on a bucket boundary). */
export function opsQueries(dataset: string, window: OpsWindow, until: number): Record<OpsQueryName, string> {
  const { seconds, bucketSeconds } = OPS_WINDOWS[window];
  const within = `timestamp >= toDateTime(${until - seconds}) AND timestamp < toDateTime(${until})`;
  const calls = `FROM ${dataset} WHERE ${COUNTED_CALL} AND ${within}`;
  return {
    totals: `SELECT ${FIGURES} ${calls} AND ${WORK} FORMAT JSON`,
    servers: `SELECT blob2 AS server, ${FIGURES} ${calls} GROUP BY server ORDER BY calls DESC LIMIT 100 FORMAT JSON`,
    tools: `SELECT blob2 AS server, blob4 AS tool, ${FIGURES} ${calls} AND blob3 = 'tools/call' AND blob4 != '' GROUP BY server, tool ORDER BY calls DESC LIMIT ${OPS_TOP_ROWS} FORMAT JSON`,
    series: `SELECT toStartOfInterval(timestamp, INTERVAL '${bucketSeconds}' SECOND) AS start, SUM(_sample_interval) AS calls,
  SUM(IF(blob5 != 'ok', _sample_interval, 0)) AS errors ${calls} GROUP BY start ORDER BY start FORMAT JSON`,
    topUsers: `SELECT blob8 AS user, SUM(_sample_interval) AS calls ${calls} AND blob8 != '' GROUP BY user ORDER BY calls DESC LIMIT ${OPS_TOP_ROWS} FORMAT JSON`,
    topClients: `SELECT blob6 AS client, SUM(_sample_interval) AS calls ${calls} AND blob6 != '' GROUP BY client ORDER BY calls DESC LIMIT ${OPS_TOP_ROWS} FORMAT JSON`,
    others: `SELECT SUM(IF(${AUTH_FAILURE}, ${REQUESTS}, 0)) AS auth_failures,
  SUM(IF(${AUTH_FAILURE} OR blob1 = 'auth.sign_in' OR ${CALL}, ${REQUESTS}, 0)) AS auth_attempts,
  SUM(IF(blob1 = 'auth.rate_limited', ${REQUESTS}, 0)) AS auth_limited, SUM(IF(blob1 = 'mcp.rate_limited', ${REQUESTS}, 0)) AS mcp_limited,
  SUM(IF(${COUNTED_CALL} AND NOT ${WORK}, _sample_interval, 0)) AS bookkeeping
  FROM ${dataset} WHERE ${within} FORMAT JSON`,
  };
}

/** The newest MCP calls. */
export const tailQuery = (dataset: string, limit: number): string =>
  `SELECT timestamp, blob2 AS server, blob3 AS method, blob4 AS tool, blob5 AS outcome, blob6 AS client, blob8 AS user,
  double1 AS latency FROM ${dataset} WHERE ${CALL} ORDER BY timestamp DESC LIMIT ${Math.floor(limit)} FORMAT JSON`;
