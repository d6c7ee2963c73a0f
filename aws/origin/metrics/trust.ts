import { Counter, type Registry } from "prom-client";
import { REFUSAL_REASONS, type RefusalReason } from "../trust/require-assertion.ts";

/** Edge assertions refused, by reason: `replayed` is the replay guard's, `full` the bound replay guard's. */
export function assertionRefusalMetrics(registry: Registry): (reason: RefusalReason) => void {
  const refusals = new Counter({
    name: "mcp_origin_assertion_rejections_total",
    help: "Requests refused at the edge-assertion gate, by reason (replayed: the replay guard; full: the bound replay guard; keyset: the edge's key set could not be read, no assertion could be checked).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  // Every series exists from the start: a first refusal is then an increase from 0, which increase() and rate() see.
  const byReason = new Map(REFUSAL_REASONS.map((reason) => [reason, refusals.labels(reason)] as const));
  for (const series of byReason.values()) series.inc(0);
  return (reason) => byReason.get(reason)?.inc();
}
