import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { OpsStats, OpsWindow, TailCall } from "../../../contract/ops-stats.ts";
import type { UserProps } from "../../env.ts";
import { analyticsEngineSource } from "./analytics-engine/source.ts";
import { auditStoreSource } from "./audit-store/source.ts";

/** Where the dashboard's figures come from; the page reads only through this. */
export interface OpsDataSource {
  /** One sentence for the page: where the figures come from and what they cannot show. */
  readonly description: string;
  /** What the page shows for the audit dead-letter queue's depth, which no source reads (the edge cannot see queue metrics). */
  readonly deadLetters: string;
  stats(window: OpsWindow): Promise<OpsStats>;
  /** The most recent MCP calls, newest first. */
  tail(limit: number): Promise<TailCall[]>;
}

/** A source could not answer; the message says what failed and what to check. */
export class OpsSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpsSourceError";
  }
}

/** The administrator the figures are read for (the origin source names them in its assertion). */
export interface OpsReader {
  user: UserProps;
  clientId: string;
}

const DEAD_LETTERS =
  "Not readable from the edge: the CloudWatch metric McpEdgeProxy/Audit AuditDeadLetterBacklog and its alarm AuditDeadLetters show it (docs/operations.md).";

/** The configured source (EdgeConfig `ops.source`). */
export function opsDataSource(config: EdgeConfig, reader: OpsReader): OpsDataSource {
  const analytics = config.ops.analyticsEngine;
  if (config.ops.source === "analytics-engine" && analytics) return analyticsEngineSource(analytics, DEAD_LETTERS);
  return auditStoreSource(config, reader, DEAD_LETTERS);
}
