import { Counter, type Registry } from "prom-client";
import type { AuditEvent } from "../../../contract/audit-event.ts";

/**
 * The kinds the origin records itself through its writer (aws/origin/audit/origin-events.ts), the only ones it can lose:
 * each has its `lost` series from the start, at 0.
 */
export const ORIGIN_RECORDED_KINDS = [
  "mcp.approval",
  "mcp.upstream_left_out",
  "definition.first_seen",
  "definition.held",
  "definition.changed",
] as const satisfies readonly AuditEvent["kind"][];

export interface AuditIngestMetrics {
  /** A valid batch's events were stored (this many: new ones inserted, redelivered ones found stored already). */
  received(events: number): void;
  /** This many of them were new and written (a redelivered event is written once). */
  inserted(events: number): void;
  /** A request was refused as no batch of events at all (nothing of it is stored). */
  invalid(): void;
  /** Events of a batch were refused (the others were stored); counted again each time the edge sends them again. */
  refused(events: number): void;
  /** One of the origin's own events (aws/origin/audit/origin-events.ts) was given up on: never stored. */
  lost(kind: AuditEvent["kind"]): void;
}

/** The edge's audit delivery to the origin (POST /audit/events), and the origin's own events it could not store. */
export function auditIngestMetrics(registry: Registry): AuditIngestMetrics {
  const received = new Counter({
    name: "mcp_origin_audit_events_received_total",
    help: "Valid audit events received from the edge and stored (inserted, or found stored already), counted once their batch's insert succeeded.",
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
  // Refusals, not events: the edge sends a refused event again with its queue message (up to 100 times), and each
  // delivery refuses it again.
  const refused = new Counter({
    name: "mcp_origin_audit_event_refusals_total",
    help: "Refusals of audit events as invalid, one per event per delivery: the edge sends a refused event again with its queue message (up to 100 times) until it is dead-lettered, so one event can count 100 times.",
    registers: [registry],
  });
  const lost = new Counter({
    name: "mcp_origin_audit_events_lost_total",
    help: "Audit events the origin recorded itself (approvals, pins, left-out servers) given up on, never stored.",
    labelNames: ["kind"],
    registers: [registry],
  });
  // Every series exists from the start: a first loss is then an increase from 0, which increase() and rate() see.
  for (const kind of ORIGIN_RECORDED_KINDS) lost.labels(kind).inc(0);
  return {
    received: (events) => received.inc(events),
    inserted: (events) => inserted.inc(events),
    invalid: () => invalid.inc(),
    refused: (events) => refused.inc(events),
    lost: (kind) => lost.inc({ kind }),
  };
}
