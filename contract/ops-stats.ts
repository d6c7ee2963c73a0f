import { z } from "zod";

/**
 * What the ops dashboard shows for a time window, as the origin's audit store answers it (GET /ops/stats) and as the
 * edge's Analytics Engine source builds it: one shape, so the page never knows where its numbers came from.
 */

/** Where the origin answers the dashboard's aggregates (edge assertion with `purpose: "ops"`). */
export const OPS_STATS_PATH = "/ops/stats";

/** The windows the dashboard offers, each cut into buckets for its charts. */
export const OPS_WINDOWS = {
  "1h": { seconds: 3600, bucketSeconds: 300, label: "last hour" },
  "24h": { seconds: 86_400, bucketSeconds: 3600, label: "last 24 hours" },
  "7d": { seconds: 604_800, bucketSeconds: 21_600, label: "last 7 days" },
} as const;
export type OpsWindow = keyof typeof OPS_WINDOWS;
export const OPS_WINDOW_NAMES = Object.keys(OPS_WINDOWS) as OpsWindow[];

/** Whether a query value names a window. */
export const isOpsWindow = (value: string | undefined): value is OpsWindow =>
  value !== undefined && Object.hasOwn(OPS_WINDOWS, value);

/** How many rows the per-tool, top-user and top-client tables hold at most. */
export const OPS_TOP_ROWS = 20;

/**
 * MCP requests that keep a session or a stream going rather than do work: the summary's Calls, Error rate and Latency
 * leave them out (a 2025-era client sends three or four per session, answered in milliseconds and almost never failing,
 * so they would set the figures by the mix of client eras; s24 hunt observability F12). An entry ending in `/` is a
 * prefix. Everything else (tools/call, resources/read, prompts/get, the lists, completion/complete, …) does work. Both
 * sources filter by this one table (`workMethodSql`).
 */
export const BOOKKEEPING_METHODS = [
  "initialize",
  "ping",
  "notifications/",
  "logging/setLevel",
  // The edge's names for a 2025-era session's GET stream and its DELETE.
  "stream/open",
  "session/delete",
  // 2026-07-28: what the client asks before it works, and its stream of notifications.
  "server/discover",
  "subscriptions/listen",
] as const;

/**
 * SQL, in PostgreSQL's and Analytics Engine's dialect alike, true when `method` (a text expression, never null) names a
 * request that does work. The table's entries are constants: no quoting is needed.
 */
export function workMethodSql(method: string): string {
  const exact = BOOKKEEPING_METHODS.filter((entry) => !entry.endsWith("/")).map((entry) => `'${entry}'`);
  const prefixes = BOOKKEEPING_METHODS.filter((entry) => entry.endsWith("/")).map(
    (entry) => ` AND ${method} NOT LIKE '${entry}%'`,
  );
  return `(${method} NOT IN (${exact.join(", ")})${prefixes.join("")})`;
}

const count = z.number().nonnegative();
const millis = z.number().nonnegative().nullable();

/** MCP calls (`mcp.request` events) and how they went; an error is any outcome but `ok`. */
const CallFigures = z.object({ calls: count, errors: count, p50Ms: millis, p95Ms: millis });
export type CallFigures = z.infer<typeof CallFigures>;

export const OpsStats = z.object({
  window: z.enum(OPS_WINDOW_NAMES as [OpsWindow, ...OpsWindow[]]),
  /** The window's end (ISO time); it starts `OPS_WINDOWS[window].seconds` earlier. */
  until: z.string(),
  /** Over MCP requests that do work (not `BOOKKEEPING_METHODS`). */
  totals: CallFigures,
  /** The MCP requests `totals` leaves out as bookkeeping (absent from an origin older than the field). */
  bookkeeping: count.optional(),
  /** Calls and errors per bucket, oldest first, every bucket present (zero when nothing happened). */
  series: z.array(z.object({ start: z.string(), calls: count, errors: count })),
  /**
   * Per server, its calls and `leftOut`: how often the aggregated `/mcp` answered without it (`mcp.upstream_left_out`
   * events: it failed, could not start, or was too slow). Null or absent: this source cannot tell (Analytics Engine
   * holds the edge's events only, and the origin records these). A server only ever left out has a row of its own.
   */
  servers: z.array(CallFigures.extend({ server: z.string(), leftOut: count.nullable().optional() })),
  tools: z.array(CallFigures.extend({ server: z.string(), tool: z.string() })),
  /** Authentications (sign-ins and the token checks of MCP calls) and those refused (refused tokens, denied sign-ins, reused refresh tokens). */
  auth: z.object({ attempts: count, failures: count }),
  /** Who called most: an e-mail from the audit store, a pseudonymous hash from Analytics Engine. */
  topUsers: z.array(z.object({ user: z.string(), calls: count })),
  topClients: z.array(z.object({ client: z.string(), calls: count })),
  /** Requests refused for their rate, at the authorization endpoints and at MCP. */
  rateLimited: z.object({ auth: count, mcp: count }),
  /**
   * Event time to stored time, when the source stores events (null: this source cannot tell). `newestAgeMs`: how old
   * the newest stored event the edge sent is at the window's end: it grows while delivery is stalled, when the lag of
   * what did arrive cannot show it (absent from an origin older than this field).
   */
  deliveryLag: z.object({ p50Ms: millis, p95Ms: millis, maxMs: millis, newestAgeMs: millis.optional() }).nullable(),
});
export type OpsStats = z.infer<typeof OpsStats>;

/** One recent call in the live tail. */
export const TailCall = z.object({
  time: z.string(),
  user: z.string().optional(),
  client: z.string().optional(),
  server: z.string().optional(),
  tool: z.string().optional(),
  method: z.string().optional(),
  outcome: z.string(),
  latencyMs: z.number().nonnegative(),
});
export type TailCall = z.infer<typeof TailCall>;
