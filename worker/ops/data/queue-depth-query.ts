/**
 * The audit queues' backlog in Cloudflare's GraphQL Analytics API (dataset `queueBacklogAdaptiveGroups`): the
 * average number of messages waiting in each queue over a recent window. The same question the AWS metrics Lambda
 * asks (aws/cdk/service/audit-queue-metrics/index.mjs); written again here because the Worker imports nothing of aws/.
 */
export const AUDIT_QUEUES_QUERY = `query AuditQueues($accountTag: string!, $audit: string!, $deadLetter: string!, $start: Time!, $end: Time!) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      audit: queueBacklogAdaptiveGroups(limit: 1, filter: { queueId: $audit, datetime_geq: $start, datetime_leq: $end }) { avg { messages } }
      deadLetter: queueBacklogAdaptiveGroups(limit: 1, filter: { queueId: $deadLetter, datetime_geq: $start, datetime_leq: $end }) { avg { messages } }
    }
  }
}`;

/** The backlog is averaged over this window: Cloudflare's queue analytics arrive a few minutes late. */
export const AUDIT_QUEUES_WINDOW_MS = 10 * 60_000;

export interface AuditQueueIds {
  accountId: string;
  auditQueueId: string;
  deadLetterQueueId: string;
}

/** The query's variables for the window that ends at `end` (milliseconds since the epoch). */
export const auditQueuesVariables = (ids: AuditQueueIds, end: number) => ({
  accountTag: ids.accountId,
  audit: ids.auditQueueId,
  deadLetter: ids.deadLetterQueueId,
  start: new Date(end - AUDIT_QUEUES_WINDOW_MS).toISOString(),
  end: new Date(end).toISOString(),
});

type BacklogGroups = { avg?: { messages?: number | null } | null }[] | null | undefined;
/** One account's answer, as aliased in the query. */
export interface AuditQueuesAccount {
  audit?: BacklogGroups;
  deadLetter?: BacklogGroups;
}

/** No group in the window means no message waited in it: an empty queue. */
export const backlogOf = (groups: BacklogGroups): number => Math.round(groups?.[0]?.avg?.messages ?? 0);
