import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { notQueuedQuery } from "../../analytics/not-queued.ts";
import { cloudflareSqlUrl, runSql } from "./analytics-engine/sql-api.ts";

/** How far back the Audit delivery panel counts the audit events the edge could not queue. */
export const NOT_QUEUED_WINDOW_HOURS = 24;
const CACHE_MS = 60_000;

// Counts, not promises: a request must not await another request's I/O (see queue-depth.ts).
const cache = new Map<string, { expiresAt: number; events: number | undefined }>();

/**
 * The audit events the edge could not queue in the last day (its `audit.not_queued` Analytics Engine points), read at
 * most once a minute per isolate; undefined without `ops.analyticsEngine`, or when the SQL API fails (logged).
 */
export async function readNotQueued(config: EdgeConfig, now = Date.now()): Promise<number | undefined> {
  const analytics = config.ops.analyticsEngine;
  if (!analytics) return undefined;
  const api = { url: analytics.sqlUrl ?? cloudflareSqlUrl(analytics.accountId), apiToken: analytics.apiToken };
  const key = JSON.stringify([api, analytics.dataset]);
  const cached = cache.get(key);
  if (cached && cached.expiresAt > now) return cached.events;
  for (const [staleKey, entry] of cache) if (entry.expiresAt <= now) cache.delete(staleKey);
  const until = Math.floor(now / 1000);
  const sql = notQueuedQuery(analytics.dataset, until - NOT_QUEUED_WINDOW_HOURS * 3600, until);
  const events = await runSql(api, sql).then(
    (rows) => Number(rows[0]?.events ?? 0),
    (error: unknown) => {
      console.error(`ops dashboard: counting the audit events not queued failed: ${(error as Error).message ?? String(error)}`);
      return undefined;
    },
  );
  cache.set(key, { expiresAt: now + CACHE_MS, events });
  return events;
}
