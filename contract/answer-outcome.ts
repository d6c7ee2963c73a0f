import { AuditOutcome } from "./audit-event.ts";
import { CALL_LIMIT_CODE, POLICY_DENIED_CODE } from "./config/policy.ts";

/** How an MCP request ended, read from its JSON-RPC answer. Both tiers judge an answer with this one function. */
export interface AnswerOutcome {
  outcome: AuditOutcome;
  errorCode?: number;
}

/**
 * The origin's header on a JSON answer: the outcome it read while it held the answer whole, so that the edge
 * audits it and relays the body as it is, without reading it. The edge never passes it on to the client.
 */
export const ANSWER_OUTCOME_HEADER = "mcp-answer-outcome";

/**
 * The response header by which an edge session object says it audits the request itself (a 2024-11-05 HTTP+SSE POST:
 * the answer travels later, on the client's stream). It stays between the object and the Worker: clients never see it,
 * and the Worker honours it from a session object only, never from the origin.
 */
export const SESSION_AUDITS_HEADER = "mcp-edge-session-audits";

/** The JSON-RPC codes of a request the policy refused: a rule denies it, or a `limit` rule's budget is spent. */
const REFUSED_BY_POLICY: ReadonlySet<number> = new Set([POLICY_DENIED_CODE, CALL_LIMIT_CODE]);

/** The JSON-RPC code of the answer to a request its client cancelled (the edge answers it so, the client ignores it). */
export const REQUEST_CANCELLED_CODE = -32800;

/** The `resultType` of a 2026-07-28 result that asks the client for input before the request can go on. */
const INPUT_REQUIRED = "input_required";

/**
 * The member of a JSON-RPC error's `data` by which the origin marks an error of its own for a request the upstream never
 * answered (it timed out, its connection broke, an HTTP upstream answered 5xx): such a request was `unavailable`, not
 * answered with an error. An upstream could set it on an error of its own; it would change only how that is audited.
 */
export const UNANSWERED_BY_UPSTREAM = "upstreamUnanswered";

/** What a JSON-RPC error with `code` (and `data`) says of how its request ended. */
function outcomeOfError(code: number | undefined, data: unknown): AuditOutcome {
  if (code !== undefined && REFUSED_BY_POLICY.has(code)) return "denied";
  if (code === REQUEST_CANCELLED_CODE) return "cancelled";
  const unanswered =
    typeof data === "object" && data !== null && (data as Record<string, unknown>)[UNANSWERED_BY_UPSTREAM] === true;
  return unanswered ? "unavailable" : "error";
}

/**
 * The outcome a JSON-RPC message (as text, or parsed) states, if it is the answer to `requestId` (any id when that is
 * not given; `null` for an error answered to a request whose id could not be read): an error (with its code), a tool's
 * error result, or a success. Undefined for anything else.
 */
export function outcomeOfAnswer(data: string | object, requestId?: string | number | null): AnswerOutcome | undefined {
  let message: { id?: unknown; result?: { isError?: unknown; resultType?: unknown }; error?: { code?: unknown; data?: unknown } };
  try {
    message = typeof data === "string" ? JSON.parse(data) : data;
  } catch {
    return undefined;
  }
  if (typeof message !== "object" || message === null) return undefined;
  if (requestId !== undefined && message.id !== requestId) return undefined;
  if (message.error) {
    const errorCode = typeof message.error.code === "number" ? message.error.code : undefined;
    return { outcome: outcomeOfError(errorCode, message.error.data), errorCode };
  }
  if (message.result?.isError === true) return { outcome: "tool_error" };
  // The round asked the client for something and ran nothing: not a success (a declined call must show no `ok`).
  if (message.result?.resultType === INPUT_REQUIRED) return { outcome: "input_required" };
  return message.result === undefined ? undefined : { outcome: "ok" };
}

// A plain lookup: this runs on every relayed answer, where a schema parse would be the costliest step.
const OUTCOMES: ReadonlySet<string> = new Set(AuditOutcome.options);
const isOutcome = (value: string | undefined): value is AuditOutcome => value !== undefined && OUTCOMES.has(value);

export const formatAnswerOutcome = ({ outcome, errorCode }: AnswerOutcome): string =>
  errorCode === undefined ? outcome : `${outcome} ${errorCode}`;

/** Reads the header back; undefined when it is absent or not something the origin writes. */
export function parseAnswerOutcome(value: string | null): AnswerOutcome | undefined {
  const [outcome, code] = (value ?? "").split(" ");
  if (!isOutcome(outcome)) return undefined;
  const errorCode = code === undefined ? undefined : Number(code);
  if (errorCode !== undefined && !Number.isInteger(errorCode)) return undefined;
  return errorCode === undefined ? { outcome } : { outcome, errorCode };
}

/**
 * The origin's header on the aggregated endpoint's answers: the server a request was routed to and, for a tool or
 * prompt, the upstream's own name, so that the edge audits what was used as on `/mcp/<server>` (a public name past
 * 64 characters ends in a hash the edge cannot read back, and a resource's server is known only to the origin's
 * router). Like the outcome, it stays between the tiers.
 */
export const ANSWER_ROUTE_HEADER = "mcp-answer-route";

export interface AnswerRoute {
  server: string;
  /** The upstream's own name of the tool or prompt (absent for what is not named: a resource, a completion). */
  name?: string;
}

/** `<server>` or `<server> <name, percent-encoded>`: header values are ASCII, names need not be. */
export const formatAnswerRoute = ({ server, name }: AnswerRoute): string =>
  name === undefined ? server : `${server} ${encodeURIComponent(name)}`;

/** Reads the header back; undefined when it is absent or not something the origin writes. */
export function parseAnswerRoute(value: string | null): AnswerRoute | undefined {
  const [server, name, ...rest] = (value ?? "").split(" ");
  if (!server || rest.length > 0) return undefined;
  if (name === undefined) return { server };
  try {
    return { server, name: decodeURIComponent(name) };
  } catch {
    return undefined;
  }
}
