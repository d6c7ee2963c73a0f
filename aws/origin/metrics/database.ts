import { Gauge, type Registry } from "prom-client";

/** What `pg.Pool` counts (read at scrape time, so the queries themselves pay nothing). */
export interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** The database pool's connections: open, idle, and queries queued for one. */
export function databasePoolMetrics(registry: Registry, pool: PoolCounts): void {
  const gauges = [
    ["mcp_origin_database_pool_clients", "Connections the origin's database pool holds open.", () => pool.totalCount],
    ["mcp_origin_database_pool_idle_clients", "Open connections not in use.", () => pool.idleCount],
    [
      "mcp_origin_database_pool_waiting_clients",
      "Queries waiting for a connection (the pool is at its maximum).",
      () => pool.waitingCount,
    ],
  ] as const;
  for (const [name, help, read] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  }
}
