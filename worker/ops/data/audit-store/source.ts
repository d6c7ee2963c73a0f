import { AuditEvent } from "../../../../contract/audit-event.ts";
import type { EdgeConfig } from "../../../../contract/config/schema.ts";
import { OPS_STATS_PATH, OpsStats, type TailCall } from "../../../../contract/ops-stats.ts";
import { callOriginForOps, expectStatus } from "../origin-call.ts";
import type { OpsDataSource, OpsReader } from "../source.ts";

/** The origin's audit search (aws/origin/audit/search-route.ts): the tail reads its newest MCP calls. */
const AUDIT_SEARCH_PATH = "/audit/events";

/**
 * The origin's audit trail: aggregates from GET /ops/stats, the tail from the audit search, each under an assertion
 * with `purpose: "ops"` naming the administrator (the origin logs who read the audit trail).
 */
export function auditStoreSource(config: EdgeConfig, reader: OpsReader): OpsDataSource {
  const get = async (path: string) => expectStatus(await callOriginForOps(config, reader, path, { method: "GET" }), path);
  return {
    description: "Figures from the audit trail in the origin's database: every event the edge delivered, users by e-mail.",
    async stats(window) {
      return OpsStats.parse(await (await get(`${OPS_STATS_PATH}?window=${window}`)).json());
    },
    async tail(limit) {
      const text = await (await get(`${AUDIT_SEARCH_PATH}?kind=mcp.request&limit=${limit}&format=json`)).text();
      return text
        .split("\n")
        .filter((line) => line.trim())
        .map((line) => tailCall(AuditEvent.parse(JSON.parse(line))));
    },
  };
}

const tailCall = (event: AuditEvent): TailCall => ({
  time: event.time,
  user: event.userEmail ?? event.userSub,
  client: event.clientId,
  server: event.server,
  tool: event.tool,
  method: event.method,
  outcome: event.outcome,
  latencyMs: event.latencyMs,
});
