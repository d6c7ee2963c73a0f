import { type AuditEvent, type AuditQueueMessage, fitText, utf8Length } from "../../contract/audit-event.ts";
import { auditArguments, TRUNCATED_KEY, withDefaultRules } from "../../contract/audit-redaction.ts";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import { writeDataPoint } from "../analytics/data-point.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { noteNotQueued } from "./not-queued.ts";
import { spoolRefused } from "./spool.ts";

export type AuditFacts = Omit<AuditEvent, "id" | "time" | "arguments"> & {
  /** As the client sent them (parsed JSON): redacted and bounded before the event is queued. */
  arguments?: Record<string, unknown>;
};

/**
 * Cuts every text field over MAX_AUDIT_TEXT_BYTES of UTF-8 (contract/audit-event.ts `fitText`), marking the cut and the
 * original length. Client-chosen text (a tool name, a method) can be megabytes: cut, an event fits a queue message,
 * and no field is too large for the origin's indexes (a row over their limit would fail its whole batch).
 */
export function fitForQueue<T extends object>(facts: T): T {
  const fitted = { ...facts } as Record<string, unknown>;
  for (const [key, value] of Object.entries(fitted)) {
    if (typeof value === "string") fitted[key] = fitText(value);
  }
  return fitted as T;
}

/** A batch travels as one queue message: Queues take at most 128 KB (of UTF-8) per message; a batch stays well under. */
const MAX_BATCH_EVENTS = 100;
const MAX_BATCH_BYTES = 112 * 1024;

interface Batch {
  events: AuditEvent[];
  bytes: number;
  /** Set by the request that sends the batch: the first of its requests whose window ends. */
  taken: boolean;
}

// Per isolate and per queue: the batch being filled. Each queue message costs a producer call (measured locally at
// about half a millisecond of the isolate's time each, whatever its size); a batch is one message per window.
const filling = new Map<Queue<AuditQueueMessage>, Batch>();

/**
 * Queues one audit event for the origin, in a batch with the other events of the next `auditBatchMilliseconds`. The
 * request it describes is never failed because of it: a queue error is logged (by event id, without personal
 * data) and the request goes on. The request's `waitUntil` covers the send, so the isolate lives until it is done.
 * The same facts become the event's Analytics Engine data point (docs/analytics.md), with the same guarantees.
 * Arguments are redacted by `audit.redact` before anything else sees them.
 */
export function recordAudit(
  env: EdgeEnv,
  ctx: Pick<ExecutionContext, "waitUntil">,
  facts: AuditFacts | Promise<AuditFacts>,
  options: RecordOptions = {},
): void {
  const id = options.id ?? crypto.randomUUID();
  const time = new Date().toISOString();
  ctx.waitUntil(
    afterThisTurn(facts)
      .then(
        async (facts) => {
          const built = buildEvent(env, id, time, facts);
          // Off the request's path too: the data point is written once the facts are known, as the event is queued.
          const written = built.config && writeDataPoint(env.ANALYTICS, built.config, built.resolved);
          // An event whose sender must know it was queued (its copy in storage is then released) goes alone: in a
          // batch another request sends, its fate would be unknown here. So does one built without its config.
          const [queued] = await Promise.all([
            options.queued || !built.config
              ? sendBatch(env, [built.event], Boolean(options.queued))
              : addToBatch(env, built.event, built.config.auditBatchMilliseconds),
            written,
          ]);
          if (queued) options.queued?.();
        },
        (error: unknown) => console.error(`audit event ${id} could not be recorded: ${String(error)}`),
      )
      .catch((error: unknown) => console.error(`audit event ${id} may not have been queued: ${String(error)}`)),
  );
}

/** The event to queue, and what its data point is written from (absent when the event could not be built whole). */
type Built =
  | { event: AuditEvent; config: EdgeConfig; resolved: Omit<AuditEvent, "id" | "time"> }
  | { event: AuditEvent; config?: undefined; resolved?: undefined };

/**
 * The event to queue. Should redacting or bounding the facts throw (arguments no limit foresaw), the event is queued
 * all the same, its arguments replaced by a `[truncated]` marker saying why, and the failure is logged: a call that
 * leaves no audit record would be a way to act unseen.
 */
function buildEvent(env: EdgeEnv, id: string, time: string, facts: AuditFacts): Built {
  try {
    const config = edgeConfig(env);
    const resolved = withRedactedArguments(facts, config.audit.redact);
    return { event: fitForQueue({ id, time, ...resolved }), config, resolved };
  } catch (error) {
    const why = `the event could not be built with its arguments (${String(error).slice(0, 200)}), so they were left out`;
    console.error(`audit event ${id}: ${why}; it is queued without them (a bug to report, with this line)`);
    const { arguments: _left, ...rest } = facts;
    return { event: fitForQueue({ id, time, ...rest, arguments: { [TRUNCATED_KEY]: { error: why } } }) };
  }
}

export interface RecordOptions {
  /** The event's id (a new one when absent): the origin stores an id once, so the same event sent twice is one row. */
  id?: string;
  /**
   * Called once the queue took the event; never when the send failed. An event with this callback is sent in a
   * message of its own (not batched with other requests' events), so that its outcome is known.
   */
  queued?: () => void;
}

/**
 * The facts, once the isolate has finished the current turn: a request's own answer is returned before its event is
 * redacted, serialized and queued (as microtasks, that work would run ahead of the answer's delivery).
 */
const afterThisTurn = <T>(value: T | Promise<T>): Promise<T> =>
  new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() => value);

/**
 * The facts with their arguments redacted as `recordAudit` redacts them, for facts kept in storage until they are
 * recorded (worker/mcp/bridge/held-audits.ts): what is hidden is never stored either. Redacting twice changes nothing.
 */
export function redactedForHolding<T extends { arguments?: Record<string, unknown> }>(facts: T, env: EdgeEnv): T {
  if (!facts.arguments) return facts;
  return { ...facts, arguments: redacted(facts.arguments, edgeConfig(env).audit.redact) };
}

/** The facts with their arguments redacted and bounded (docs/audit.md, "Redaction"): what is hidden never leaves the edge. */
function withRedactedArguments(facts: AuditFacts, rules: EdgeConfig["audit"]["redact"]): Omit<AuditEvent, "id" | "time"> {
  const { arguments: given, ...rest } = facts;
  return given ? { ...rest, arguments: redacted(given, rules) } : rest;
}

/** Arguments as `audit.redact` (with its defaults) keeps them; parsed from the request's JSON, so JSON throughout. */
const redacted = (given: Record<string, unknown>, rules: EdgeConfig["audit"]["redact"]) =>
  auditArguments(given, withDefaultRules(rules, rules.defaults)) as AuditEvent["arguments"] & Record<string, unknown>;

/**
 * Adds an event to the queue's batch being filled. Every request waits out the window on a timer of its own and then
 * sends the batch unless another of its requests already did: a request must not await a promise that another request
 * made (the runtime cancels such a wait as hung, and the other request may be gone), and the batch is sent even if the
 * request that started it ended early. Whether the queue took the batch, when this request sent it; else undefined.
 */
function addToBatch(env: EdgeEnv, event: AuditEvent, windowMs: number): Promise<boolean | undefined> {
  const queue = env.AUDIT_QUEUE;
  const bytes = utf8Length(JSON.stringify(event));
  let batch = filling.get(queue);
  if (batch && (batch.events.length >= MAX_BATCH_EVENTS || batch.bytes + bytes > MAX_BATCH_BYTES)) {
    filling.delete(queue);
    batch = undefined;
  }
  if (!batch) {
    batch = { events: [], bytes: 0, taken: false };
    filling.set(queue, batch);
  }
  batch.events.push(event);
  batch.bytes += bytes;
  const joined = batch;
  return new Promise<void>((resolve) => setTimeout(resolve, windowMs)).then(() => {
    // Sent by another request of the batch: its send is that request's to await, never this one's.
    if (joined.taken) return undefined;
    joined.taken = true;
    if (filling.get(queue) === joined) filling.delete(queue);
    return sendBatch(env, joined.events);
  });
}

/** Pauses before each new attempt at a send the queue refused (a blip of the queue loses no events). */
const SEND_RETRY_DELAYS_MS = [100, 1000];

/**
 * Sends the batch, trying again after a refusal (the events keep their ids: the origin stores each once, should a
 * refused send have been queued after all); false once the queue refused every attempt, logged by event id (without
 * personal data). Unless their sender keeps them to send again (`held`: a session's copy in storage), the events then
 * go to the audit spool, which sends them again later (`spoolRefused`); only when it cannot take them either are they
 * lost, and counted in Analytics Engine for the dashboard and the runbook (`noteNotQueued`).
 */
async function sendBatch(env: EdgeEnv, events: AuditEvent[], held = false): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await env.AUDIT_QUEUE.send(events, { contentType: "json" });
      return true;
    } catch (error) {
      const delay = SEND_RETRY_DELAYS_MS[attempt];
      if (delay !== undefined) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        continue;
      }
      const ids = events.map((event) => event.id).join(", ");
      const kept = held || (await spoolRefused(env, events));
      const fate = held
        ? "their sender holds them and tries again"
        : kept
          ? "the audit spool keeps them and tries again"
          : "lost";
      console.error(`${events.length} audit events could not be queued (${ids}): ${String(error)}; ${fate}`);
      if (!kept) noteNotQueued(env.ANALYTICS, events.length);
      return false;
    }
  }
}
