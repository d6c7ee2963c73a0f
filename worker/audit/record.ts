import type { AuditEvent } from "../../contract/audit-event.ts";
import type { EdgeEnv } from "../env.ts";

export type AuditFacts = Omit<AuditEvent, "id" | "time">;

/**
 * The longest a text field of an audit event may be. Queue messages are limited to 128 KB and an event over it
 * would be lost; client-chosen text (a tool name, a method) can be megabytes. Longer text is cut, saying so.
 */
export const MAX_AUDIT_TEXT = 2000;

/** Cuts every overlong text field, marking the cut and the original length, so that every event fits the queue. */
export function fitForQueue<T extends Record<string, unknown>>(facts: T): T {
  const fitted: Record<string, unknown> = { ...facts };
  for (const [key, value] of Object.entries(fitted)) {
    if (typeof value === "string" && value.length > MAX_AUDIT_TEXT)
      fitted[key] = `${value.slice(0, MAX_AUDIT_TEXT)}…[truncated from ${value.length} characters]`;
  }
  return fitted as T;
}

/**
 * Queues one audit event for the origin. The request it describes is never failed because of it:
 * a queue error is logged (by event id, without personal data) and the request goes on.
 */
export function recordAudit(
  env: EdgeEnv,
  ctx: Pick<ExecutionContext, "waitUntil">,
  facts: AuditFacts | Promise<AuditFacts>,
): void {
  const id = crypto.randomUUID();
  const time = new Date().toISOString();
  ctx.waitUntil(
    Promise.resolve(facts)
      .then((resolved) => env.AUDIT_QUEUE.send(fitForQueue({ id, time, ...resolved }), { contentType: "json" }))
      .catch((error: unknown) => console.error(`audit event ${id} could not be queued: ${String(error)}`)),
  );
}
