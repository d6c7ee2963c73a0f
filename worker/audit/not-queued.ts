import { BLOBS, DOUBLES, MAX_INDEX_CHARS } from "../analytics/layout.ts";
import { NOT_QUEUED_KIND } from "../analytics/not-queued.ts";

/**
 * Records that `events` audit events could not be queued (dropped: not in the trail), as one data point whose `double6`
 * (the requests a point stands for) is their number. Their log line names them; this is what the dashboard's Audit
 * delivery panel counts. Never throws: the events are already lost, and so is nothing else.
 */
export function noteNotQueued(dataset: AnalyticsEngineDataset | undefined, events: number): void {
  if (!dataset) return;
  try {
    dataset.writeDataPoint({
      indexes: [NOT_QUEUED_KIND.slice(0, MAX_INDEX_CHARS)],
      blobs: BLOBS.map((field) => (field === "kind" ? NOT_QUEUED_KIND : "")),
      doubles: DOUBLES.map(({ fact, absent }) => (fact === "count" ? events : absent)),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.name : typeof error;
    console.error(`analytics data point for ${events} audit events not queued not written (${reason})`);
  }
}
