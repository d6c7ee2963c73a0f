import type { AuditEvent } from "../../contract/audit-event.ts";

/** An audit queue that keeps what the edge sends, as an env override, for tests that check what was recorded. */
export function capturedAudit(): { events: AuditEvent[]; env: Record<string, unknown> } {
  const events: AuditEvent[] = [];
  const sendBatch = async (messages: { body: AuditEvent }[]) => {
    events.push(...messages.map((message) => message.body));
  };
  return { events, env: { AUDIT_QUEUE: { sendBatch } } };
}
