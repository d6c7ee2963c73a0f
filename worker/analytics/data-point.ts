import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { AuditFacts } from "../audit/record.ts";
import { BLOBS, DOUBLES, indexOf, MAX_BLOB_CHARS, MAX_INDEX_CHARS } from "./layout.ts";
import { hashUserId } from "./user-hash.ts";

/**
 * Writes one Analytics Engine data point for an audited event. Never throws and never rejects: analytics is not worth a
 * failed request, so an error is logged by the event's kind alone (no user, no client-chosen text). Unbound: nothing.
 */
export async function writeDataPoint(
  dataset: AnalyticsEngineDataset | undefined,
  config: EdgeConfig,
  facts: AuditFacts,
): Promise<void> {
  if (!dataset) return;
  try {
    const userHash = facts.userSub ? await hashUserId(config, facts.userSub) : "";
    dataset.writeDataPoint(dataPoint(facts, userHash));
  } catch (error) {
    const reason = error instanceof Error ? error.name : typeof error;
    console.error(`analytics data point for a ${facts.kind} event not written (${reason})`);
  }
}

/** The data point of one event, in the layout of `layout.ts`. */
export function dataPoint(facts: AuditFacts, userHash: string): AnalyticsEngineDataPoint {
  return {
    indexes: [indexOf(facts).slice(0, MAX_INDEX_CHARS)],
    blobs: BLOBS.map((field) => (field === "userHash" ? userHash : (facts[field] ?? "")).slice(0, MAX_BLOB_CHARS)),
    doubles: DOUBLES.map(({ fact, absent }) => facts[fact] ?? absent),
  };
}
