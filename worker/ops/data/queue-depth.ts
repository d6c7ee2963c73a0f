import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { SpoolContents } from "../../audit/spool-contents.ts";
import { readNotQueued } from "./not-queued.ts";
import { CLOUDFLARE_GRAPHQL_URL, queryAuditQueues } from "./queue-depth-api.ts";
import { AUDIT_QUEUES_WINDOW_MS, backlogOf } from "./queue-depth-query.ts";
import { OpsSourceError } from "./source.ts";

/**
 * What the dashboard knows of the audit queues: a reading, or why there is none; and, whatever the queues' state, the
 * audit events the queue refused to the edge in the last day (`readNotQueued`), when Analytics Engine could say, and
 * those waiting in the audit spool to be sent again (`spooledNow`), when its objects could say.
 */
export type AuditQueuesReading = (
  | { state: "read"; backlog: number; deadLetters: number; readAt: string; windowMinutes: number }
  | { state: "not-configured" | "local" | "unreadable"; reason: string }
) & { notQueued?: number; spooled?: SpoolContents };

/** One reading serves every page load of this isolate for a minute: the API's figures move no faster. */
export const AUDIT_QUEUES_CACHE_MS = 60_000;

const NOT_CONFIGURED =
  "set OPS_AUDIT_QUEUE_ID and OPS_DEAD_LETTER_QUEUE_ID (wrangler queues info), with OPS_ANALYTICS_ACCOUNT_ID and OPS_ANALYTICS_API_TOKEN (Account Analytics: Read); meanwhile the CloudWatch metrics McpEdgeProxy/Audit AuditQueueBacklog and AuditDeadLetterBacklog show them";
const LOCAL =
  "npm start runs the queues inside wrangler dev (Miniflare), which Cloudflare's GraphQL Analytics API cannot see; failed deliveries show in the edge's log instead (audit delivery: …)";

// Readings, not promises: a request must not await another request's I/O (the runtime cancels such a wait as hung
// when the other request ends first), so page loads that meet while a reading is in flight each make their own.
const cache = new Map<string, { expiresAt: number; reading: AuditQueuesReading }>();

/** The audit queues' reading, with the events not queued (from Analytics Engine, read alongside). */
export async function readAuditQueues(config: EdgeConfig, now = Date.now()): Promise<AuditQueuesReading> {
  const [queues, notQueued] = await Promise.all([readQueues(config, now), readNotQueued(config, now)]);
  return notQueued === undefined ? queues : { ...queues, notQueued };
}

/** The audit queue's backlog and the dead-letter depth, read at most once a minute per isolate and configuration. */
async function readQueues(config: EdgeConfig, now: number): Promise<AuditQueuesReading> {
  const { queues, analyticsEngine } = config.ops;
  if (!queues || !analyticsEngine) {
    const local = config.publicUrl.startsWith("http:");
    return local ? { state: "local", reason: LOCAL } : { state: "not-configured", reason: NOT_CONFIGURED };
  }
  const api = { url: queues.graphqlUrl ?? CLOUDFLARE_GRAPHQL_URL, apiToken: analyticsEngine.apiToken };
  const ids = { accountId: analyticsEngine.accountId, ...queues };
  // The token is part of the key, so a rotated token is tried at once instead of after the failed reading expires.
  const key = JSON.stringify([api, ids]);
  const cached = cache.get(key);
  if (cached && cached.expiresAt > now) return cached.reading;
  for (const [staleKey, entry] of cache) if (entry.expiresAt <= now) cache.delete(staleKey);
  const reading = await queryAuditQueues(api, ids, now).then(
    (account): AuditQueuesReading => ({
      state: "read",
      backlog: backlogOf(account.audit),
      deadLetters: backlogOf(account.deadLetter),
      readAt: new Date(now).toISOString(),
      windowMinutes: AUDIT_QUEUES_WINDOW_MS / 60_000,
    }),
    (error: unknown): AuditQueuesReading => {
      if (error instanceof OpsSourceError) return { state: "unreadable", reason: error.message };
      console.error(`ops dashboard: reading the audit queues failed: ${(error as Error).stack ?? String(error)}`);
      return { state: "unreadable", reason: "an unexpected failure (the edge's log has the details)" };
    },
  );
  cache.set(key, { expiresAt: now + AUDIT_QUEUES_CACHE_MS, reading });
  return reading;
}
