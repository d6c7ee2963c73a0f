import { Counter, type Registry } from "prom-client";
import type { AuditEvent } from "../../../contract/audit-event.ts";

export interface AuditIngestMetrics {
  /** A valid batch arrived with this many events. */
  received(events: number): void;
  /** This many of them were new and written (a redelivered event is written once). */
  inserted(events: number): void;
  /** A request was refused as no batch of events at all (nothing of it is stored). */
  invalid(): void;
  /** Events of a batch were refused (the others were stored). */
  refused(events: number): void;
  /** One of the origin's own events (aws/origin/audit/origin-events.ts) was given up on: never stored. */
  lost(kind: AuditEvent["kind"]): void;
}

/** The edge's audit delivery to the origin (POST /audit/events), and the origin's own events it could not store. */
export function auditIngestMetrics(registry: Registry): AuditIngestMetrics {
  const received = new Counter({
    name: "mcp_origin_audit_events_received_total",
    help: "Valid audit events received from the edge.",
    registers: [registry],
  });
  const inserted = new Counter({
    name: "mcp_origin_audit_events_inserted_total",
    help: "Audit events written to the audit store (redelivered ones are not written again).",
    registers: [registry],
  });
  const invalid = new Counter({
    name: "mcp_origin_audit_invalid_batches_total",
    help: "Audit requests refused as no batch of events at all.",
    registers: [registry],
  });
  const refused = new Counter({
    name: "mcp_origin_audit_events_refused_total",
    help: "Audit events refused as invalid (the rest of their batch is stored; the edge sends them again).",
    registers: [registry],
  });
  const lost = new Counter({
    name: "mcp_origin_audit_events_lost_total",
    help: "Audit events the origin recorded itself (approvals, pins, left-out servers) given up on, never stored.",
    labelNames: ["kind"],
    registers: [registry],
  });
  return {
    received: (events) => received.inc(events),
    inserted: (events) => inserted.inc(events),
    invalid: () => invalid.inc(),
    refused: (events) => refused.inc(events),
    lost: (kind) => lost.inc({ kind }),
  };
}
