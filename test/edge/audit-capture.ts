import type { AuditEvent } from "../../contract/audit-event.ts";

/** An audit queue that keeps what the edge sends, for tests that check an event was (or was not) recorded. */
export function capturedAudit(): { events: AuditEvent[]; env: { AUDIT_QUEUE: Pick<Queue<AuditEvent>, "send"> } } {
  const events: AuditEvent[] = [];
  return {
    events,
    env: {
      AUDIT_QUEUE: {
        send: async (event: AuditEvent) => {
          events.push(event);
        },
      },
    },
  };
}
