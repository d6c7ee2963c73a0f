import { type Context, type Handler, Hono, type MiddlewareHandler } from "hono";
import type { McpRequestMetrics } from "./http.ts";
import type { OriginMetrics } from "./registry.ts";

export const METRICS_PATH = "/metrics";

/** GET /metrics: the registry in Prometheus' text exposition format. */
export function serveMetrics(metrics: OriginMetrics): Handler {
  return async (c) =>
    c.body(await metrics.registry.metrics(), 200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
}

/** Times a request through the handlers after it, and gives its status and seconds to `record`. */
function measured(record: (c: Context, status: number, seconds: number) => void): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    record(c, c.res.status, (performance.now() - started) / 1000);
  };
}

/** Counts and times each request to /servers/:server/mcp, refusals at the assertion gate included. */
export function measureMcpRequests(requests: McpRequestMetrics): MiddlewareHandler {
  return measured((c, status, seconds) => requests.observe(c.req.param("server") ?? "", status, seconds));
}

/** Counts and times each request to the aggregated endpoint /mcp, refusals at the assertion gate included. */
export function measureAggregatedRequests(requests: McpRequestMetrics): MiddlewareHandler {
  return measured((_c, status, seconds) => requests.observeAggregated(status, seconds));
}

/**
 * The app of the metrics port (`metrics.port`): /metrics only, without an assertion. It is reachable only from
 * inside the VPC (the ALB forwards only the main port, and the security group admits this one from the VPC alone).
 */
export function metricsOnlyApp(metrics: OriginMetrics): Hono {
  const app = new Hono();
  app.get(METRICS_PATH, serveMetrics(metrics));
  app.notFound((c) => c.json({ error: "not_found" }, 404));
  return app;
}
