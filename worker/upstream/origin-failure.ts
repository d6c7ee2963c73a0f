import { UNANSWERED_BY_UPSTREAM } from "../../contract/answer-outcome.ts";
import { JSON_RPC } from "../mcp/json-rpc-error.ts";
import { OriginTimeout } from "./fetch-origin.ts";
import { AssertionTooLarge } from "./sign-assertion.ts";

/** What a client is told when its request to the origin failed, whatever the era: an HTTP status and a JSON-RPC error. */
export interface OriginFailure {
  status: 500 | 503 | 504;
  code: number;
  message: string;
  /** Whether trying again soon may help (the answer then says when). */
  retry: boolean;
  /** The error's data: for an origin not reached or silent, the mark that audits it `unavailable` (as the origin's own). */
  data?: Record<string, unknown>;
}

/** What a client is told to wait before retrying when the origin failed (Retry-After; an SSE stream's `retry:`). */
export const ORIGIN_RETRY_AFTER_SECONDS = 5;

/** Nobody answered the request: audited `unavailable` in every era (contract/answer-outcome.ts). */
const UNANSWERED = { [UNANSWERED_BY_UPSTREAM]: true };

/**
 * The one mapping of a failed edge → origin request: not sent because the caller's assertion would be too large for
 * the balancer (500: what to ask an administrator for), the origin not beginning to answer in time (504), or not
 * reached at all (503). Logs why, without the request.
 */
export function originFailureOf(error: unknown, server: string): OriginFailure {
  if (error instanceof AssertionTooLarge) {
    console.error(`request for server ${server} not sent: ${error.message}`);
    return { status: 500, code: JSON_RPC.internalError, message: error.message, retry: false };
  }
  const timedOut = error instanceof OriginTimeout;
  console.error(`origin ${timedOut ? "timed out" : "unreachable"} for server ${server}: ${String(error)}`);
  return timedOut
    ? {
        status: 504,
        code: JSON_RPC.upstreamUnavailable,
        message: `the origin did not answer in time for server "${server}"; try again`,
        retry: true,
        data: UNANSWERED,
      }
    : {
        status: 503,
        code: JSON_RPC.upstreamUnavailable,
        message: `the origin could not be reached for server "${server}"; try again shortly`,
        retry: true,
        data: UNANSWERED,
      };
}
