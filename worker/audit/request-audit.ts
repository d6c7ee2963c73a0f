import type { Observation } from "../mcp/observe-response.ts";
import type { AuditFacts } from "./record.ts";

/** An MCP request's audit facts as known when it arrives; how it ended completes them. */
export interface RequestAudit extends Omit<AuditFacts, "outcome" | "errorCode" | "httpStatus" | "latencyMs" | "responseBytes"> {
  /** When the edge received the request (ms since the epoch). */
  started: number;
}

/** The request's audit facts, completed with how it ended. */
export function completedAudit(audit: RequestAudit, httpStatus: number, observation: Observation): AuditFacts {
  const { started, ...facts } = audit;
  return {
    ...facts,
    outcome: observation.outcome,
    errorCode: observation.errorCode,
    httpStatus,
    // A session object runs this on its own clock, against a start the Worker stamped, maybe on another machine a
    // few milliseconds ahead: never below 0 (the origin's schema refuses a negative latency).
    latencyMs: Math.max(0, Date.now() - started),
    responseBytes: observation.responseBytes,
  };
}
