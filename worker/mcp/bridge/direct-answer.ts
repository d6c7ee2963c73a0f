import { type JSONRPCRequest, ProtocolError, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/server";
import {
  ANSWER_OUTCOME_HEADER,
  ANSWER_ROUTE_HEADER,
  formatAnswerOutcome,
  outcomeOfAnswer,
  parseAnswerOutcome,
} from "../../../contract/answer-outcome.ts";
import type { AuditOutcome } from "../../../contract/audit-event.ts";
import type { EdgeAssertionClaims } from "../../../contract/edge-assertion.ts";
import { JSON_RPC } from "../json-rpc-error.ts";
import { exchangeWithOrigin, type JsonRpcMessage, type OriginLabels, type OriginLink } from "./origin-exchange.ts";
import type { SessionRecord } from "./session-record.ts";
import {
  answerBrokeOff,
  exchangeFailure,
  forwardedParams,
  type Prefetched,
  SESSION_METHODS,
  toLegacyResult,
} from "./session-server.ts";

/**
 * Most requests of a 2025-era session are plain: one request, one answer, nothing streamed before it. For those the
 * session object need not run the SDK's transport and session server (which answer over SSE, validate every message
 * and make the Worker read the stream to audit it): it forwards the request at once and, when the origin's first
 * message is the final answer, answers the client with that one JSON body (which the 2025 transports allow), labelled
 * with its outcome. When the origin's answer streams first (progress, log messages) or asks for input, the exchange
 * already begun is handed to the session server, which goes on with it over SSE exactly as if it had sent it.
 */

/**
 * How long the short way waits for the origin's answer. A call still running after this goes on over SSE: a JSON
 * answer has nothing to send meanwhile, and proxies cut connections that stay silent too long.
 */
const SHORT_WAY_WAIT_MS = 10_000;

/**
 * The session object's answer on the short way, as data: it crosses the Worker ↔ object RPC without a Response's
 * stream, and the Worker makes the client's response of it (`asResponse`).
 */
export interface DirectAnswer {
  /** The JSON-RPC answer, serialized. */
  json: string;
  /** Its outcome for the audit, as `ANSWER_OUTCOME_HEADER` carries it. */
  outcome?: string;
  /** On `/mcp`, where the origin routed the request, as `ANSWER_ROUTE_HEADER` carries it. */
  route?: string;
  sessionId: string;
}

/** What the session object served, as the client's response. */
export function asResponse(served: DirectAnswer | Response): Response {
  if (!isDirectAnswer(served)) return served;
  const headers = new Headers({ "content-type": "application/json", "mcp-session-id": served.sessionId });
  if (served.outcome) headers.set(ANSWER_OUTCOME_HEADER, served.outcome);
  if (served.route) headers.set(ANSWER_ROUTE_HEADER, served.route);
  // A string body gets no Content-Length until it is sent, and the audit takes the answer's size from it.
  const body = new TextEncoder().encode(served.json);
  headers.set("content-length", String(body.byteLength));
  return new Response(body, { status: 200, headers });
}

// `json` is a string here; a Response has a json() method.
export const isDirectAnswer = <Other extends object>(value: DirectAnswer | Other): value is DirectAnswer =>
  typeof (value as Partial<DirectAnswer>).json === "string";

/** A request the short way may take: otherwise undefined, and the SDK's transport answers it in the protocol's words. */
export function plainRequest(method: string, headers: Headers, body: unknown): JSONRPCRequest | undefined {
  if (method !== "POST" || typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const message = body as Partial<JSONRPCRequest>;
  if (message.jsonrpc !== "2.0" || typeof message.method !== "string" || SESSION_METHODS.has(message.method)) return undefined;
  if (typeof message.id !== "string" && typeof message.id !== "number") return undefined;
  const accept = headers.get("accept") ?? "";
  if (!accept.includes("application/json") || !accept.includes("text/event-stream")) return undefined;
  if (!headers.get("content-type")?.includes("application/json")) return undefined;
  const version = headers.get("mcp-protocol-version");
  if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined;
  return message as JSONRPCRequest;
}

/**
 * Forwards a plain request. Resolves to the client's JSON answer (as data), or to the exchange to hand to the session server
 * when the answer is not one message. `signal` aborts the exchange (the client cancelled the request).
 */
export async function answerDirectly(
  origin: OriginLink,
  record: SessionRecord,
  claims: EdgeAssertionClaims,
  request: JSONRPCRequest,
  controller: AbortController,
): Promise<DirectAnswer | Prefetched> {
  const server = record.identity.server;
  const hop = { id: request.id, method: request.method, params: forwardedParams(request, record) };
  const labels: OriginLabels = {};
  const messages = exchangeWithOrigin(origin, server, claims, hop, controller.signal, labels);
  const pending = messages.next();
  const waited = await answeredWithin(pending, SHORT_WAY_WAIT_MS);
  // A long call goes on over SSE, where the SDK's keep-alive comments tell every proxy on the way it is alive.
  const handOver: Prefetched = {
    messages: continueFrom(pending, messages),
    abort: (reason) => controller.abort(reason),
    route: () => labels.route,
  };
  if (waited === "long") return handOver;
  let first: IteratorResult<JsonRpcMessage>;
  try {
    first = await pending;
  } catch (error) {
    // A cancelled request's answer is read by nobody: nothing to log or explain.
    if (controller.signal.aborted) return answer(record, request.id, { error: abortedError(controller.signal) });
    const failure = exchangeFailure(error, server);
    return answer(record, request.id, { error: failure }, unavailableIf(failure.code === JSON_RPC.upstreamUnavailable));
  }
  if (first.done)
    return answer(record, request.id, { error: abortedError(controller.signal) }, unavailableIf(!controller.signal.aborted));
  const message = first.value;
  const final = message.method === undefined && (message.error || message.result?.resultType !== "input_required");
  if (!final) return handOver;
  await messages.return(undefined);
  if (message.error) return answer(record, request.id, { error: message.error }, undefined, labels);
  return answer(record, request.id, { result: toLegacyResult(message.result ?? {}) }, undefined, labels);
}

/**
 * Why the session object aborts a short-way exchange when its client sent `notifications/cancelled` for it (not when
 * the session ends): its answer is then the cancellation's, audited `cancelled` as on every other path.
 */
export class CancelledByClient {
  readonly reason: unknown;
  constructor(reason?: unknown) {
    this.reason = reason;
  }
}

/**
 * The answer to an exchange that ended without its answer: cancelled by its client, ended with the session for a
 * reason its client is told (a ProtocolError: past `sessionsPerUser`), or broken off.
 */
const abortedError = (signal: AbortSignal) => {
  if (signal.aborted && signal.reason instanceof CancelledByClient)
    return { code: JSON_RPC.requestCancelled, message: "cancelled by the client" };
  return signal.aborted && signal.reason instanceof ProtocolError ? signal.reason : answerBrokeOff();
};

/**
 * The label of the object's own answer when the origin could not be reached or its answer broke off: `unavailable`, as
 * a 2026-07-28 client's request is audited then, not `error` under the -32000 an upstream's own errors carry too.
 */
const unavailableIf = (failed: boolean): AuditOutcome | undefined => (failed ? "unavailable" : undefined);

/**
 * The client's answer, labelled for the audit: with the object's own outcome when it answers for a failed exchange,
 * else with the origin's labels when it gave them (a name on `/mcp` of a server the policy refuses the user is
 * answered as unknown and labelled `denied`, as on a 2026-07-28 client's path), else as the answer reads.
 */
function answer(
  record: SessionRecord,
  id: string | number,
  outcome: { result: Record<string, unknown> } | { error: ProtocolError | { code: number; message: string; data?: unknown } },
  own?: AuditOutcome,
  labels: OriginLabels = {},
): DirectAnswer {
  const message =
    "result" in outcome
      ? { jsonrpc: "2.0", id, result: outcome.result }
      : { jsonrpc: "2.0", id, error: errorObject(outcome.error) };
  const judged = parseAnswerOutcome(labels.outcome ?? null) ?? outcomeOfAnswer(message);
  const labelled = own && judged ? { ...judged, outcome: own } : judged;
  return {
    json: JSON.stringify(message),
    outcome: labelled && formatAnswerOutcome(labelled),
    ...(labels.route && { route: labels.route }),
    sessionId: record.sessionId,
  };
}

function errorObject(error: ProtocolError | { code: number; message: string; data?: unknown }) {
  return { code: error.code, message: error.message, ...(error.data !== undefined && { data: error.data }) };
}

/** The exchange as the session server takes it over: the first message (awaited or already read), then the rest. */
async function* continueFrom(
  pending: Promise<IteratorResult<JsonRpcMessage>>,
  rest: AsyncGenerator<JsonRpcMessage>,
): AsyncGenerator<JsonRpcMessage> {
  const first = await pending;
  if (first.done) return;
  yield first.value;
  yield* rest;
}

/**
 * Whether the first message came (or the exchange failed) within `ms`. The timer is cleared when it does: a pending
 * timer would keep the session object in memory, billed for wall-clock time, long after the answer.
 */
async function answeredWithin(pending: Promise<unknown>, ms: number): Promise<"answered" | "long"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const long = new Promise<"long">((resolve) => {
    timer = setTimeout(() => resolve("long"), ms);
  });
  try {
    return await Promise.race([
      pending.then(
        () => "answered" as const,
        () => "answered" as const,
      ),
      long,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
