import type { AuditEvent } from "../../contract/audit-event.ts";
import type { EdgeEnv } from "../env.ts";
import type { SpoolContents } from "./spool-contents.ts";

/** Objects the refused batches are spread over: a queue incident sends every isolate's batches to them at once. */
const SPOOL_OBJECTS = 8;

const spoolAt = (env: EdgeEnv, index: number) => env.AUDIT_SPOOL.get(env.AUDIT_SPOOL.idFromName(`audit-spool-${index}`));

/**
 * Keeps events the queue refused in an `AuditSpool` object, which sends them again once the queue takes them
 * (durable-objects/audit-spool.ts). A full or unreachable object passes them to the next; false when neither took them.
 */
export async function spoolRefused(env: EdgeEnv, events: AuditEvent[]): Promise<boolean> {
  const first = Math.floor(Math.random() * SPOOL_OBJECTS);
  for (const index of [first, (first + 1) % SPOOL_OBJECTS]) {
    try {
      if (await spoolAt(env, index).keep(events)) return true;
      console.warn(`audit spool ${index} is full; trying another`);
    } catch (error) {
      console.warn(`audit spool ${index} could not keep ${events.length} events: ${String(error)}`);
    }
  }
  return false;
}

/**
 * What every spool object keeps now, added up: audit events the queue refused, not yet in the trail, sent again until
 * it takes them. Undefined when an object could not be asked (logged): a partial sum would understate the delay.
 */
export async function spooledNow(env: EdgeEnv): Promise<SpoolContents | undefined> {
  try {
    const each = await Promise.all(Array.from({ length: SPOOL_OBJECTS }, (_, index) => spoolAt(env, index).kept()));
    const oldest = Math.min(...each.map((spool) => spool.oldestAt ?? Number.POSITIVE_INFINITY));
    return {
      batches: each.reduce((sum, spool) => sum + spool.batches, 0),
      events: each.reduce((sum, spool) => sum + spool.events, 0),
      bytes: each.reduce((sum, spool) => sum + spool.bytes, 0),
      ...(Number.isFinite(oldest) && { oldestAt: oldest }),
    };
  } catch (error) {
    console.error(`ops dashboard: reading the audit spool failed: ${String(error)}`);
    return undefined;
  }
}
