import type { AuditEvent, AuditQueueMessage } from "../../contract/audit-event.ts";

/** An audit queue that keeps what the edge sends, as an env override, for tests that check what was recorded. */
export function capturedAudit(): { events: AuditEvent[]; env: Record<string, unknown> } {
  const events: AuditEvent[] = [];
  const send = async (body: AuditQueueMessage) => {
    events.push(...[body].flat());
  };
  const sendBatch = async (messages: { body: AuditQueueMessage }[]) => {
    for (const message of messages) await send(message.body);
  };
  return { events, env: { AUDIT_QUEUE: { send, sendBatch } } };
}
