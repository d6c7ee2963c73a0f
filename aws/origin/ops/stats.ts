import type pg from "pg";
import { OPS_TOP_ROWS, OPS_WINDOWS, type OpsStats, type OpsWindow, workMethodSql } from "../../../contract/ops-stats.ts";

// Each statement reads the window [$1, $2). An error is any call whose outcome is not `ok`; aggregated events
// (rate limits) stand for `count` requests each. A 2026-07-28 round that only asked the user (input_required) is not a
// call of its own: the call's row follows it (ok, or error when declined), so counting the round would count every
// approved call twice and every approval prompt as an error. It is still a request that passed authentication.
const WITHIN = "time >= $1 AND time < $2";
const CALL = "kind = 'mcp.request' AND outcome IS DISTINCT FROM 'input_required'";
const CALLS = `FROM audit_events WHERE ${CALL} AND ${WITHIN}`;
// The summary's calls: those that do work, not a session's bookkeeping (contract/ops-stats.ts).
const WORK = workMethodSql("coalesce(method, '')");
// A server the aggregated /mcp answered without: the origin records it (the edge saw the whole answer succeed).
const LEFT_OUT = "kind = 'mcp.upstream_left_out'";
/** Calls, errors and latency of the rows that match `call` (a statement may read other rows beside them). */
const callFigures = (call = "true") => `(count(*) FILTER (WHERE ${call}))::int AS calls,
  (count(*) FILTER (WHERE ${call} AND outcome <> 'ok'))::int AS errors,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ${call}) AS p50,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ${call}) AS p95`;
const CALL_FIGURES = callFigures();
const requests = (condition: string) => `coalesce(sum(coalesce(count, 1)) FILTER (WHERE ${condition}), 0)::int`;
const AUTH_FAILURES = "kind IN ('auth.denied', 'auth.refresh_reuse')";
/**
 * The events whose delivery lag means something: those the edge stamps when they happen and queues at once (MCP
 * requests, sign-ins). Not the rate limits' counts, stamped at their minute's start and sent when it ends (a minute
 * "late" with a healthy queue), nor what the origin records itself (an audit search: no lag, and the dashboard's own
 * live tail writes one every few seconds). s24 hunt observability F2, F10.
 */
const DELIVERED = "kind = 'mcp.request' OR (kind LIKE 'auth.%' AND kind <> 'auth.rate_limited')";

const SQL = {
  totals: `SELECT ${callFigures(WORK)}, (count(*) FILTER (WHERE NOT ${WORK}))::int AS bookkeeping ${CALLS}`,
  // A server only ever left out (it never starts) has a row too: calls 0, left out n.
  servers: `SELECT coalesce(server, '') AS server, ${callFigures(CALL)}, (count(*) FILTER (WHERE ${LEFT_OUT}))::int AS left_out
    FROM audit_events WHERE ((${CALL}) OR ${LEFT_OUT}) AND ${WITHIN}
    GROUP BY 1 ORDER BY calls DESC, left_out DESC, server LIMIT 100`,
  // The tool column also holds a prompt's name or a resource's URI: the tools table counts tool calls only.
  tools: `SELECT coalesce(server, '') AS server, tool, ${CALL_FIGURES} ${CALLS} AND method = 'tools/call' AND tool IS NOT NULL
    GROUP BY 1, 2 ORDER BY calls DESC, server, tool LIMIT ${OPS_TOP_ROWS}`,
  series: `SELECT floor(extract(epoch FROM time - $1::timestamptz) / $3)::int AS bucket, count(*)::int AS calls,
    (count(*) FILTER (WHERE outcome <> 'ok'))::int AS errors ${CALLS} GROUP BY 1`,
  topUsers: `SELECT coalesce(user_email, user_sub) AS name, count(*)::int AS calls ${CALLS}
    AND coalesce(user_email, user_sub) IS NOT NULL GROUP BY 1 ORDER BY calls DESC, name LIMIT ${OPS_TOP_ROWS}`,
  topClients: `SELECT client_id AS name, count(*)::int AS calls ${CALLS} AND client_id IS NOT NULL
    GROUP BY 1 ORDER BY calls DESC, name LIMIT ${OPS_TOP_ROWS}`,
  // Every kind but MCP calls is rare: one pass over them (and the calls' count) gives auth, limits and lag.
  others: `SELECT ${requests(AUTH_FAILURES)} AS auth_failures,
    ${requests(`${AUTH_FAILURES} OR kind IN ('auth.sign_in', 'mcp.request')`)} AS auth_attempts,
    ${requests("kind = 'auth.rate_limited'")} AS auth_limited, ${requests("kind = 'mcp.rate_limited'")} AS mcp_limited,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS lag_p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY lag) AS lag_p95,
    max(lag) AS lag_max,
    (extract(epoch FROM $2::timestamptz - max(time) FILTER (WHERE lag IS NOT NULL)) * 1000)::float8 AS newest_age
    FROM (SELECT kind, count, time,
        CASE WHEN ${DELIVERED} THEN greatest(0, extract(epoch FROM received_at - time) * 1000)::float8 END AS lag
      FROM audit_events WHERE time >= $1 AND time < $2) AS windowed`,
} as const;

type Figures = { calls: number; errors: number; p50: number | null; p95: number | null };
const figures = (row: Figures | undefined) => ({
  calls: row?.calls ?? 0,
  errors: row?.errors ?? 0,
  p50Ms: row?.p50 ?? null,
  p95Ms: row?.p95 ?? null,
});

/** The dashboard's aggregates over the window that ends `until`, read from the audit trail. */
export async function readOpsStats(db: pg.Pool, window: OpsWindow, until: Date): Promise<OpsStats> {
  const { seconds, bucketSeconds } = OPS_WINDOWS[window];
  const since = new Date(until.getTime() - seconds * 1000);
  const range = [since.toISOString(), until.toISOString()];
  const rows = async <Row>(sql: string, extra: unknown[] = []) =>
    (await db.query({ text: sql, values: [...range, ...extra] })).rows as Row[];
  const [totals, servers, tools, series, topUsers, topClients, others] = await Promise.all([
    rows<Figures & { bookkeeping: number }>(SQL.totals),
    rows<Figures & { server: string; left_out: number }>(SQL.servers),
    rows<Figures & { server: string; tool: string }>(SQL.tools),
    rows<{ bucket: number; calls: number; errors: number }>(SQL.series, [bucketSeconds]),
    rows<{ name: string; calls: number }>(SQL.topUsers),
    rows<{ name: string; calls: number }>(SQL.topClients),
    rows<Record<string, number | null>>(SQL.others),
  ]);
  const other = others[0] ?? {};
  const buckets = new Map(series.map((row) => [row.bucket, row]));
  return {
    window,
    until: until.toISOString(),
    totals: figures(totals[0]),
    bookkeeping: totals[0]?.bookkeeping ?? 0,
    series: Array.from({ length: seconds / bucketSeconds }, (_, index) => ({
      start: new Date(since.getTime() + index * bucketSeconds * 1000).toISOString(),
      calls: buckets.get(index)?.calls ?? 0,
      errors: buckets.get(index)?.errors ?? 0,
    })),
    servers: servers.map((row) => ({ server: row.server, ...figures(row), leftOut: row.left_out })),
    tools: tools.map((row) => ({ server: row.server, tool: row.tool, ...figures(row) })),
    auth: { attempts: other.auth_attempts ?? 0, failures: other.auth_failures ?? 0 },
    topUsers: topUsers.map((row) => ({ user: row.name, calls: row.calls })),
    topClients: topClients.map((row) => ({ client: row.name, calls: row.calls })),
    rateLimited: { auth: other.auth_limited ?? 0, mcp: other.mcp_limited ?? 0 },
    deliveryLag: {
      p50Ms: other.lag_p50 ?? null,
      p95Ms: other.lag_p95 ?? null,
      maxMs: other.lag_max ?? null,
      newestAgeMs: other.newest_age ?? null,
    },
  };
}
