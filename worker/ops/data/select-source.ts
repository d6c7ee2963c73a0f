import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { analyticsEngineSource } from "./analytics-engine/source.ts";
import { auditStoreSource } from "./audit-store/source.ts";
import type { OpsDataSource, OpsReader } from "./source.ts";

/** The configured source (EdgeConfig `ops.source`). */
export function opsDataSource(config: EdgeConfig, reader: OpsReader): OpsDataSource {
  const analytics = config.ops.analyticsEngine;
  if (config.ops.source === "analytics-engine" && analytics) return analyticsEngineSource(analytics);
  return auditStoreSource(config, reader);
}
