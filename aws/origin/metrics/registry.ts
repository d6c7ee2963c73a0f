import { collectDefaultMetrics, Registry } from "prom-client";
import type { CircuitObserver } from "../hosting/circuit-breaker.ts";
import type { PoolRefusal } from "../hosting/host-pool.ts";
import type { ChildObserver } from "../hosting/upstream-transport.ts";
import type { RefusalReason } from "../trust/require-assertion.ts";
import { type AuditIngestMetrics, auditIngestMetrics } from "./audit.ts";
import { databasePoolMetrics, type PoolCounts } from "./database.ts";
import { circuitMetrics, poolRefusalMetrics, stdioMetrics } from "./hosting.ts";
import { type McpRequestMetrics, mcpRequestMetrics } from "./http.ts";
import { assertionRefusalMetrics } from "./trust.ts";

export interface OriginMetricsOptions {
  /** The configured server names: the only values the `server` label takes (besides `_unknown`). */
  servers: readonly string[];
  /** The database pool whose connections are reported. */
  database?: PoolCounts;
  /** Node's own metrics (`process_*`, `nodejs_*`): CPU, memory, event-loop lag, garbage collection. */
  defaultMetrics?: boolean;
}

/** Everything the origin measures, and the hooks its parts call. */
export interface OriginMetrics {
  registry: Registry;
  requests: McpRequestMetrics;
  children: (server: string) => ChildObserver;
  circuits: (server: string) => CircuitObserver;
  poolRefused: (server: string, reason: PoolRefusal) => void;
  audit: AuditIngestMetrics;
  assertionRefused: (reason: RefusalReason) => void;
}

/**
 * One origin's metrics, in a registry of its own (never prom-client's global one): two origins in one process,
 * as in tests, then count apart.
 */
export function createOriginMetrics(options: OriginMetricsOptions): OriginMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  if (options.database) databasePoolMetrics(registry, options.database);
  return {
    registry,
    requests: mcpRequestMetrics(registry, options.servers),
    children: stdioMetrics(registry, options.servers),
    circuits: circuitMetrics(registry, options.servers),
    poolRefused: poolRefusalMetrics(registry, options.servers),
    audit: auditIngestMetrics(registry),
    assertionRefused: assertionRefusalMetrics(registry),
  };
}
