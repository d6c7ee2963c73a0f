import { AUDIT_INGEST_PATH, type AuditQueueMessage, MAX_INGEST_EVENTS } from "../../contract/audit-event.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
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
 * Queue consumer: posts a batch of audit events to the origin. Anything but a 2xx retries the whole batch
 * with growing delays (the origin stores by event id, so a redelivered event is written once).
 */
export async function deliverAuditBatch(batch: MessageBatch<AuditQueueMessage>, env: EdgeEnv): Promise<void> {
  const events = batch.messages.flatMap((message) => message.body);
  const attempts = Math.max(...batch.messages.map((message) => message.attempts));
  // The origin takes at most MAX_INGEST_EVENTS per request; a part already stored is skipped on a retry (by id).
  for (let start = 0; start < events.length; start += MAX_INGEST_EVENTS) {
    const part = events.slice(start, start + MAX_INGEST_EVENTS);
    try {
      const response = await fetchOrigin(edgeConfig(env), AUDIT_INGEST_PATH, AUDIT_DELIVERY_IDENTITY, {
        method: "POST",
        headers: new Headers({ "content-type": "application/json" }),
        body: JSON.stringify({ events: part }),
      });
      if (response.ok) continue;
      console.warn(
        `audit delivery: origin answered ${response.status} for ${events.length} events; retrying (attempt ${attempts})`,
      );
    } catch (error) {
      console.warn(
        `audit delivery: origin unreachable (${String(error)}); retrying ${events.length} events (attempt ${attempts})`,
      );
    }
    batch.retryAll({ delaySeconds: retryDelaySeconds(attempts) });
    return;
  }
  batch.ackAll();
}

/** Exponential back-off: 2, 4, 8 … seconds, at most an hour. */
export const retryDelaySeconds = (attempts: number): number => Math.min(2 ** Math.max(attempts, 1), MAX_RETRY_DELAY_SECONDS);
