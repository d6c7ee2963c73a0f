import type { Observation } from "../mcp/observe-response.ts";
import type { AuditFacts } from "./record.ts";

/** An MCP request's audit facts as known when it arrives; how it ended completes them. */
export interface RequestAudit extends Omit<AuditFacts, "outcome" | "errorCode" | "httpStatus" | "latencyMs" | "responseBytes"> {
  /** When the edge received the request (ms since the epoch). */
  started: number;
}

/**
 * The response header by which a session object says it audits the request itself (a 2024-11-05 HTTP+SSE POST: the
 * answer travels later, on the client's stream). It stays between the object and the Worker: clients never see it.
 */
export const SESSION_AUDITS_HEADER = "mcp-edge-session-audits";

/** The request's audit facts, completed with how it ended. */
export function completedAudit(audit: RequestAudit, httpStatus: number, observation: Observation): AuditFacts {
  const { started, ...facts } = audit;
  return {
    ...facts,
    outcome: observation.outcome,
    errorCode: observation.errorCode,
    httpStatus,
    latencyMs: Date.now() - started,
    responseBytes: observation.responseBytes,
  };
}
