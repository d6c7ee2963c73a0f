import type { AuditEvent } from "../../contract/audit-event.ts";
import type { EdgeEnv } from "../env.ts";

/** Objects the refused batches are spread over: a queue incident sends every isolate's batches to them at once. */
const SPOOL_OBJECTS = 8;

/**
 * Keeps events the queue refused in an `AuditSpool` object, which sends them again once the queue takes them
 * (durable-objects/audit-spool.ts). A full or unreachable object passes them to the next; false when neither took them.
 */
export async function spoolRefused(env: EdgeEnv, events: AuditEvent[]): Promise<boolean> {
  const first = Math.floor(Math.random() * SPOOL_OBJECTS);
  for (const index of [first, (first + 1) % SPOOL_OBJECTS]) {
    try {
      const spool = env.AUDIT_SPOOL.get(env.AUDIT_SPOOL.idFromName(`audit-spool-${index}`));
      if (await spool.keep(events)) return true;
      console.warn(`audit spool ${index} is full; trying another`);
    } catch (error) {
      console.warn(`audit spool ${index} could not keep ${events.length} events: ${String(error)}`);
    }
  }
  return false;
}
