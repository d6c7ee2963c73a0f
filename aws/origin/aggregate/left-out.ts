import { randomUUID } from "node:crypto";
import type { AuditEvent } from "../../../contract/audit-event.ts";
import { type EventSink, originEventsOf } from "../audit/origin-events.ts";
import { safeText } from "../hosting/failure-text.ts";
import type { VerifiedAssertion } from "../trust/verify-assertion.ts";

/**
 * What the origin does when the aggregated endpoint answers without a server: a log line (naming no user) and an
 * audit event, written by the origin itself since the edge only sees the whole answer succeed.
 */
export function reportLeftOut(
  auditStore: EventSink,
  log: (line: string) => void,
): (server: string, method: string, reason: string, assertion: VerifiedAssertion) => void {
  const events = originEventsOf(auditStore, log);
  return (server, method, reason, assertion) => {
    // The reason may quote what the server answered: redacted and bounded, as every upstream failure the origin logs.
    log(`aggregate: ${method} answered without server "${server}": ${safeText(reason)}`);
    const event: AuditEvent = {
      id: randomUUID(),
      time: new Date().toISOString(),
      kind: "mcp.upstream_left_out",
      userSub: assertion.sub,
      userEmail: assertion.email,
      clientId: assertion.client_id,
      server,
      method,
      outcome: "unavailable",
      // The wait for this server is in the aggregated request's own event (docs/audit.md); this one marks the gap.
      latencyMs: 0,
    };
    events.record(event);
  };
}
