import type { Hono, MiddlewareHandler } from "hono";
import {
  AUDIT_INGEST_PATH,
  AuditEvent,
  type AuditEventsRefused,
  AuditIngestBody,
  MAX_AUDIT_ARGUMENTS_BYTES,
  MAX_AUDIT_ARGUMENTS_DEPTH,
  utf8Length,
} from "../../../contract/audit-event.ts";
import type { AuditIngestMetrics } from "../metrics/audit.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import { storedValues } from "./columns.ts";
import type { AuditStore } from "./store.ts";

type OriginEnv = { Variables: AssertionVariables };

/** The most problems named per refused event, and events whose problems are logged: enough to see the cause. */
const PROBLEMS_SHOWN = 5;

/**
 * The most levels of objects and arrays an event may nest (the event itself is the first). Validation and canonical
 * JSON recurse once per level and exhaust the stack at about 3000; an edge cuts arguments at MAX_AUDIT_ARGUMENTS_DEPTH
 * (64), and this leaves room for edges older than that cut.
 */
export const MAX_EVENT_DEPTH = 256;

/**
 * `POST /audit/events`: the edge's audit delivery (purpose `audit-delivery` only). Each event is checked alone: the
 * valid ones are stored (by id, once), and if any was refused the answer is 422 naming them by their place in the
 * batch, and the origin's log says why; a body that is no batch at all is refused whole (400).
 */
export function registerAuditIngestRoute(
  app: Hono<OriginEnv>,
  guarded: MiddlewareHandler<OriginEnv>,
  store: Pick<AuditStore, "insert">,
  metrics?: AuditIngestMetrics,
): void {
  app.post(AUDIT_INGEST_PATH, guarded, async (c) => {
    if (c.var.assertion.purpose !== "audit-delivery")
      return c.json(
        { error: "invalid_edge_assertion", reason: "purpose", detail: "only the edge's audit delivery may post audit events" },
        403,
      );
    const body = AuditIngestBody.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) {
      metrics?.invalid();
      const problems = body.error.issues.slice(0, PROBLEMS_SHOWN).map(problemOf);
      console.warn(`audit ingest: refused a request that is no batch of events: ${problems.join("; ")}`);
      return c.json({ error: "invalid_audit_batch", problems }, 400);
    }
    const checked = body.data.events.map(checkEvent);
    const valid = checked.flatMap((result) => ("event" in result ? [result.event] : []));
    const refused = checked.flatMap((result, index) => ("problems" in result ? [{ index, problems: result.problems }] : []));
    const stored = await store.insert(valid);
    // Counted once stored: a batch whose insert fails is answered 5xx and sent again, never "received".
    metrics?.received(valid.length);
    metrics?.inserted(stored.inserted);
    if (refused.length === 0) return c.json(stored);
    metrics?.refused(refused.length);
    const shown = refused.slice(0, PROBLEMS_SHOWN).map(({ index, problems }) => `#${index}: ${problems.join(", ")}`);
    console.warn(
      `audit ingest: stored ${valid.length} events, refused ${refused.length} the edge will send again (is the origin older than the edge?): ${shown.join("; ")}`,
    );
    const answer: AuditEventsRefused = { error: "invalid_audit_events", inserted: stored.inserted, refused };
    return c.json(answer, 422);
  });
}

/** A validation problem by its path and message: the schema's words, never the value. */
const problemOf = (issue: { path: PropertyKey[]; message: string }) => `${issue.path.map(String).join(".")}: ${issue.message}`;

const TOO_DEEP_PROBLEM = `objects and arrays nested more than ${MAX_EVENT_DEPTH} levels deep (an edge cuts arguments at ${MAX_AUDIT_ARGUMENTS_DEPTH} levels, replacing what is deeper by "[too deep]")`;

/**
 * An event as it will be stored, or why it cannot be. Whatever throws while checking one event or making its column
 * values refuses that event alone: thrown, it would fail the whole batch, and the queue would retry every event of
 * the delivery for days and then park them all.
 */
export function checkEvent(given: unknown): { event: AuditEvent } | { problems: string[] } {
  try {
    if (nestsDeeperThan(given, MAX_EVENT_DEPTH)) return { problems: [TOO_DEEP_PROBLEM] };
    const result = AuditEvent.safeParse(withLatencyClamped(given));
    if (!result.success) return { problems: result.error.issues.slice(0, PROBLEMS_SHOWN).map(problemOf) };
    const received = withArgumentsAsReceived(result.data, given);
    if ("problems" in received) return received;
    storedValues(received.event); // made again as it is stored: here, what throws refuses this event only
    return received;
  } catch (error) {
    // The error's own words (what failed), cut short; values reach no log.
    const what = error instanceof Error ? `${error.name}: ${error.message}` : "a non-error value";
    return { problems: [`could not be checked or made storable (${what.slice(0, 200)}): a bug, report it with this line`] };
  }
}

/**
 * The event with a negative `latencyMs` made 0. A session object computes latency against its own clock from a time
 * the Worker stamped, possibly on another machine a few milliseconds ahead: refused, the event would be retried for
 * days, parked, and lost. Clamped here, before the row is made, so the chain hashes the value stored.
 */
function withLatencyClamped(given: unknown): unknown {
  if (typeof given !== "object" || given === null || !("latencyMs" in given)) return given;
  const { latencyMs } = given;
  return typeof latencyMs === "number" && latencyMs < 0 ? { ...given, latencyMs: 0 } : given;
}

/**
 * The checked event with its `arguments` as received rather than as zod gave them back. zod 4 builds its output by
 * assignment, and `out["__proto__"] = …` sets a prototype instead of adding a key: a `__proto__` key at any depth,
 * which the edge relayed to the upstream and queued, would vanish from the row, and the chain would vouch for the row
 * without it. JSON.parse made it an own key, which canonical JSON keeps. zod also skipped what is under such a key, so
 * the received arguments are checked again here: JSON values only, and within the size bound.
 */
function withArgumentsAsReceived(event: AuditEvent, given: unknown): { event: AuditEvent } | { problems: string[] } {
  if (event.arguments === undefined) return { event };
  const received = (given as { arguments: Record<string, unknown> }).arguments;
  if (utf8Length(JSON.stringify(received)) > MAX_AUDIT_ARGUMENTS_BYTES)
    return {
      problems: [`arguments: expected at most ${MAX_AUDIT_ARGUMENTS_BYTES} bytes of JSON (the edge cuts larger arguments)`],
    };
  if (!isPlainJson(received)) return { problems: ["arguments: expected JSON values only (finite numbers, no other types)"] };
  return { event: { ...event, arguments: received as AuditEvent["arguments"] } };
}

/** Whether `value` holds only what JSON writes back as it is, found without recursion (size and depth are bounded before). */
function isPlainJson(value: unknown): boolean {
  const pending: unknown[] = [value];
  for (let index = 0; index < pending.length; index++) {
    const item = pending[index];
    if (item === null || typeof item === "string" || typeof item === "boolean") continue;
    if (typeof item === "number") {
      if (!Number.isFinite(item)) return false;
      continue;
    }
    if (typeof item !== "object") return false;
    if (!Array.isArray(item) && Object.getPrototypeOf(item) !== Object.prototype) return false;
    pending.push(...Object.values(item));
  }
  return true;
}

/** Whether `value` nests objects and arrays more than `limit` levels deep, found without recursion (it guards recursion). */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: [object, number][] = typeof value === "object" && value !== null ? [[value, 1]] : [];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, depth] = next;
    if (depth > limit) return true;
    for (const child of Object.values(item)) {
      if (typeof child === "object" && child !== null) pending.push([child, depth + 1]);
    }
  }
  return false;
}
