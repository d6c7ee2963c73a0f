import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { analyticsEngineSource } from "./analytics-engine/source.ts";
import { auditStoreSource } from "./audit-store/source.ts";
import type { OpsDataSource, OpsReader } from "./source.ts";

const DEAD_LETTERS =
  "Not readable from the edge: the CloudWatch metric McpEdgeProxy/Audit AuditDeadLetterBacklog and its alarm AuditDeadLetters show it (docs/operations.md).";

/** The configured source (EdgeConfig `ops.source`). */
export function opsDataSource(config: EdgeConfig, reader: OpsReader): OpsDataSource {
  const analytics = config.ops.analyticsEngine;
  if (config.ops.source === "analytics-engine" && analytics) return analyticsEngineSource(analytics, DEAD_LETTERS);
  return auditStoreSource(config, reader, DEAD_LETTERS);
}
