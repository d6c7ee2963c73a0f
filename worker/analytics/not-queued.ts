// Kept apart from the writer (audit/not-queued.ts): the dashboard's reader imports these without the Worker's bindings.

/**
 * The kind (`blob1`, and the index) of the Analytics Engine data point written when the queue refused a send of audit
 * events every time: no audit event has this kind, so no figure of the dashboard counts it as traffic.
 */
export const NOT_QUEUED_KIND = "audit.not_queued";

/** Analytics Engine SQL: how many audit events could not be queued from `since` to `until` (seconds since the epoch). */
export const notQueuedQuery = (dataset: string, since: number, until: number): string =>
  `SELECT SUM(_sample_interval * double6) AS events FROM ${dataset} WHERE blob1 = '${NOT_QUEUED_KIND}'
  AND timestamp >= toDateTime(${Math.floor(since)}) AND timestamp < toDateTime(${Math.floor(until)}) FORMAT JSON`;
