import { Counter, type Registry } from "prom-client";

export interface AuditIngestMetrics {
  /** A valid batch arrived with this many events. */
  received(events: number): void;
  /** This many of them were new and written (a redelivered event is written once). */
  inserted(events: number): void;
  /** A batch was refused as invalid (nothing of it is stored). */
  invalid(): void;
}

/** The edge's audit delivery to the origin (POST /audit/events). */
export function auditIngestMetrics(registry: Registry): AuditIngestMetrics {
  const received = new Counter({
    name: "mcp_origin_audit_events_received_total",
    help: "Audit events received from the edge in valid batches.",
    registers: [registry],
  });
  const inserted = new Counter({
    name: "mcp_origin_audit_events_inserted_total",
    help: "Audit events written to the audit store (redelivered ones are not written again).",
    registers: [registry],
  });
  const invalid = new Counter({
    name: "mcp_origin_audit_invalid_batches_total",
    help: "Audit batches refused as invalid.",
    registers: [registry],
  });
  return {
    received: (events) => received.inc(events),
    inserted: (events) => inserted.inc(events),
    invalid: () => invalid.inc(),
  };
}
