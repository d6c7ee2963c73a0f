import { AUDIT_INGEST_PATH, AuditEventsRefused, type AuditQueueMessage, MAX_INGEST_EVENTS } from "../../contract/audit-event.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { jsonOrUndefined } from "../http/json-or-undefined.ts";
import { fetchOrigin } from "../upstream/fetch-origin.ts";

/** The identity the edge asserts for its own calls to the origin (not on behalf of a user). */
const AUDIT_DELIVERY_IDENTITY = {
  sub: "mcp-edge-proxy:audit-delivery",
  client_id: "mcp-edge-proxy",
  purpose: "audit-delivery" as const,
};

/** Longest wait between redeliveries; with the queue's max_retries this keeps events for days of origin outage. */
const MAX_RETRY_DELAY_SECONDS = 3600;

/**
 * Queue consumer: posts a batch of audit events to the origin, at most MAX_INGEST_EVENTS per request. The origin
 * stores by event id, so a redelivered event is written once. When it stores some events and refuses others (422),
 * only the messages holding refused ones are sent again; anything else but a 2xx retries the whole batch, with
 * growing delays. What the queue cannot deliver in the end goes to its dead-letter queue, kept.
 */
export async function deliverAuditBatch(batch: MessageBatch<AuditQueueMessage>, env: EdgeEnv): Promise<void> {
  // A message holds one event or one isolate's batch of them: each event with the message it came in.
  const entries = batch.messages.flatMap((message) => [message.body].flat().map((event) => ({ event, message })));
  const attempts = Math.max(...batch.messages.map((message) => message.attempts));
  const refused = new Set<Message<AuditQueueMessage>>();
  for (let start = 0; start < entries.length; start += MAX_INGEST_EVENTS) {
    const part = entries.slice(start, start + MAX_INGEST_EVENTS);
    const answer = await postEvents(
      env,
      part.map(({ event }) => event),
      attempts,
    );
    if (answer === "stored") continue;
    if (answer === "failed") {
      batch.retryAll({ delaySeconds: retryDelaySeconds(attempts) });
      return;
    }
    for (const index of answer.refused) {
      const owner = part[index]?.message;
      if (owner) refused.add(owner);
    }
  }
  if (refused.size === 0) return batch.ackAll();
  for (const message of batch.messages) {
    if (refused.has(message)) message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    else message.ack();
  }
}

/** Posts one part of a batch: stored whole, stored but for the events at `refused`, or failed (not stored at all). */
async function postEvents(
  env: EdgeEnv,
  part: readonly unknown[],
  attempts: number,
): Promise<"stored" | "failed" | { refused: number[] }> {
  let response: Response;
  try {
    response = await fetchOrigin(edgeConfig(env), AUDIT_INGEST_PATH, AUDIT_DELIVERY_IDENTITY, {
      method: "POST",
      headers: new Headers({ "content-type": "application/json" }),
      body: JSON.stringify({ events: part }),
    });
  } catch (error) {
    console.warn(`audit delivery: origin unreachable (${String(error)}); retrying ${part.length} events (attempt ${attempts})`);
    return "failed";
  }
  if (response.ok) {
    await response.body?.cancel();
    return "stored";
  }
  const text = await response.text().catch(() => "");
  const partial = response.status === 422 ? AuditEventsRefused.safeParse(jsonOrUndefined(text)) : undefined;
  if (partial?.success) {
    const { refused, inserted } = partial.data;
    const why = refused.slice(0, 3).map(({ index, problems }) => `#${index}: ${problems.join(", ")}`);
    console.warn(
      `audit delivery: the origin stored ${inserted} events and refused ${refused.length}, whose messages are sent again (is the origin older than the edge?): ${why.join("; ")}`,
    );
    return { refused: refused.map(({ index }) => index) };
  }
  // The origin's answer says what is wrong (its problems, never an event's values); cut, it is only for the log.
  console.warn(
    `audit delivery: origin answered ${response.status} for ${part.length} events: ${text.slice(0, 500)}; retrying (attempt ${attempts})`,
  );
  return "failed";
}

/** Exponential back-off: 2, 4, 8 … seconds, at most an hour. */
export const retryDelaySeconds = (attempts: number): number => Math.min(2 ** Math.max(attempts, 1), MAX_RETRY_DELAY_SECONDS);
