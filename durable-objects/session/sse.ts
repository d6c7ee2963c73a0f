import type { Server } from "@modelcontextprotocol/server";
import { SESSION_AUDITS_HEADER } from "../../contract/answer-outcome.ts";
import { cancelledRequestId, isRequest } from "../../contract/json-rpc-ids.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import type { SessionIdentity } from "../../worker/mcp/bridge/session-record.ts";
import type { SseServerTransport } from "../../worker/mcp/bridge/sse-transport.ts";
import type { AnswerAudits } from "./answer-audits.ts";

/** A 2024-11-05 HTTP+SSE session: its stream, and its server once the client initialized. */
export interface SseSession {
  transport: SseServerTransport;
  caller: SessionIdentity;
  server?: Server;
  /** The first `initialize` beginning the server: a message arriving meanwhile waits for it (McpSession.initialized). */
  initializing?: Promise<Response | undefined>;
}

/**
 * Hands a message POSTed to an initialized 2024-11-05 session to its server; the answer travels on the session's
 * stream (202 here). A request is audited once its answer has been sent: the Worker's invocation ends with the 202. Its
 * audit is held in storage meanwhile (HeldAudits), so that a restart of this object does not lose it. One whose answer
 * cannot be awaited (its id is in flight already) is left to the Worker, which audits it at the 202.
 */
export async function deliverToSse(
  sse: SseSession,
  message: Record<string, unknown>,
  audit: RequestAudit,
  audits: AnswerAudits,
): Promise<Response> {
  const held = isRequest(message) ? audits.hold(audit) : undefined;
  const answered = isRequest(message) ? sse.transport.answerTo(message.id) : undefined;
  sse.transport.receive(message as never);
  // Received first: the server has stopped the request's work, so the answer cannot follow this one.
  const cancelled = cancelledRequestId(message);
  if (cancelled !== undefined) await sse.transport.answerCancelled(cancelled);
  if (!held || !answered) {
    if (held) audits.release(held); // left to the Worker
    return new Response(null, { status: 202 });
  }
  audits.auditAtSseAnswer(held, audit, answered);
  return new Response(null, { status: 202, headers: { [SESSION_AUDITS_HEADER]: "1" } });
}
