import { Counter, Histogram, type Registry } from "prom-client";
import { ALL_SERVERS } from "../../../contract/edge-assertion.ts";

/**
 * Seconds, from 1 ms to 60 s. Slower answers land in +Inf: an upstream that slow is better seen as a timeout
 * (`relay.requestTimeoutSeconds`) than measured finely.
 */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The label of a request naming no configured server. The path is the caller's to choose and must never become a
 * label; configured names start with a letter or digit, so this one cannot collide with any.
 */
export const UNKNOWN_SERVER = "_unknown";

/**
 * One value per configured server and one for `_unknown`, all made up front (so every series exists from the start);
 * a look-up of any other name gets the unknown one.
 */
export function perServer<T>(servers: readonly string[], make: (name: string) => T): (server: string) => T {
  const byServer = new Map([...servers, UNKNOWN_SERVER].map((name) => [name, make(name)] as const));
  const unknown = byServer.get(UNKNOWN_SERVER) as T;
  return (server) => byServer.get(server) ?? unknown;
}

/**
 * The label of requests to the aggregated endpoint `/mcp`: the edge assertion's `server` claim for it. No configured
 * name contains `*`, and `_unknown` does not either. A per-server path naming `*` is looked up by {@link perServer}
 * like any other and counts as `_unknown`: a caller can never have a request counted as aggregated traffic.
 */
export const AGGREGATED = ALL_SERVERS;

export interface McpRequestMetrics {
  /**
   * One request to /servers/<server>/mcp answered: its status, and the seconds until the answer was whole
   * (a JSON answer) or began (a stream, which may then stay open for as long as the client listens).
   */
  observe(server: string, status: number, seconds: number): void;
  /** One request to the aggregated endpoint /mcp answered, counted under {@link AGGREGATED}, timed as above. */
  observeAggregated(status: number, seconds: number): void;
}

/**
 * The statuses each server's request series has from the start, at 0 (a series born at 1 has no earlier sample, so
 * increase() and rate() miss its first request): success, the assertion gate's refusals (401, 403, 421) and every 5xx
 * the origin answers. Others are made on first use.
 */
const STATUSES_FROM_THE_START = [200, 401, 403, 421, 500, 502, 503, 504];

interface ServerSeries {
  name: string;
  latency: Histogram.Internal<"server">;
  byStatus: Map<number, Counter.Internal>;
}

/**
 * Requests and latency per configured server, and of the aggregated endpoint; each series is made once, so a request
 * costs one `inc` and one `observe`.
 */
export function mcpRequestMetrics(registry: Registry, servers: readonly string[]): McpRequestMetrics {
  const requests = new Counter({
    name: "mcp_origin_requests_total",
    help: "MCP requests the origin answered, by server (* for the aggregated /mcp) and HTTP status (refusals by the assertion gate included).",
    labelNames: ["server", "status"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "mcp_origin_request_duration_seconds",
    help: "Seconds until the origin's answer to an MCP request was whole (JSON) or began (a stream), by server (* for the aggregated /mcp).",
    labelNames: ["server"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const seriesFor = (name: string): ServerSeries => {
    latency.zero({ server: name });
    const byStatus = new Map(STATUSES_FROM_THE_START.map((status) => [status, requests.labels(name, String(status))] as const));
    for (const counter of byStatus.values()) counter.inc(0);
    return { name, latency: latency.labels(name), byStatus };
  };
  const seriesOf = perServer<ServerSeries>(servers, seriesFor);
  // Apart from the per-server look-up, so that no path reaches it.
  const aggregated = seriesFor(AGGREGATED);
  const record = (series: ServerSeries, status: number, seconds: number) => {
    let counter = series.byStatus.get(status);
    if (!counter) {
      counter = requests.labels(series.name, String(status));
      series.byStatus.set(status, counter);
    }
    counter.inc();
    series.latency.observe(seconds);
  };
  return {
    observe: (server, status, seconds) => record(seriesOf(server), status, seconds),
    observeAggregated: (status, seconds) => record(aggregated, status, seconds),
  };
}
