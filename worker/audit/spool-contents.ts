// Kept apart from the spool object (durable-objects/audit-spool.ts): the dashboard's pages read it without the
// Workers runtime's types.

/** What the audit spool keeps and has not sent yet. */
export interface SpoolContents {
  batches: number;
  events: number;
  bytes: number;
  /** When the oldest batch kept came (ms since the epoch); absent when none is kept. */
  oldestAt?: number;
}
