import { Counter, type Registry } from "prom-client";
import type { RefusalReason } from "../trust/require-assertion.ts";

/** Edge assertions refused, by reason: `replayed` is the replay guard's, `full` the bound replay guard's. */
export function assertionRefusalMetrics(registry: Registry): (reason: RefusalReason) => void {
  const refusals = new Counter({
    name: "mcp_origin_assertion_rejections_total",
    help: "Requests refused at the edge-assertion gate, by reason (replayed: the replay guard; full: the bound replay guard; keyset: the edge's key set could not be read, no assertion could be checked).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const byReason = new Map<RefusalReason, Counter.Internal>();
  return (reason) => {
    let counter = byReason.get(reason);
    if (!counter) {
      counter = refusals.labels(reason);
      byReason.set(reason, counter);
    }
    counter.inc();
  };
}
