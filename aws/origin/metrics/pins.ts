import { Counter, type Registry } from "prom-client";
import { perServer } from "./http.ts";

/**
 * Sightings of resources past the bound of pinned resources per server (MAX_RESOURCE_PINS, pinning/definition-pins.ts),
 * by server: served unpinned under trust-on-first-use, withheld under require-approval. Its only log line is the first.
 */
export function unpinnedResourceMetrics(registry: Registry, servers: readonly string[]): (server: string) => void {
  const unpinned = new Counter({
    name: "mcp_origin_unpinned_resources_total",
    help: "Resources listed or read past the most pinned per server (10,000): not pinned, served as they come (trust-on-first-use) or withheld (require-approval).",
    labelNames: ["server"] as const,
    registers: [registry],
  });
  // Every configured server's series exists from the start, at 0: a first sighting past the bound is then an increase.
  const seriesOf = perServer(servers, (name) => {
    const series = unpinned.labels(name);
    series.inc(0);
    return series;
  });
  return (server) => seriesOf(server).inc();
}
