import type { AuditEvent } from "../../contract/audit-event.ts";
import type { EdgeEnv } from "../env.ts";

export type AuditFacts = Omit<AuditEvent, "id" | "time">;

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
      .then((resolved) => env.AUDIT_QUEUE.send({ id, time, ...resolved }, { contentType: "json" }))
      .catch((error: unknown) => console.error(`audit event ${id} could not be queued: ${String(error)}`)),
  );
}
