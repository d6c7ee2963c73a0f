import { SdkError, SdkErrorCode, SdkHttpError } from "@modelcontextprotocol/client";
import { ProtocolError } from "@modelcontextprotocol/server";
import { UNANSWERED_BY_UPSTREAM } from "../../../contract/answer-outcome.ts";
import { consentRequiredIn } from "../upstream-auth/consent.ts";
import { UpstreamMessageTooLarge } from "./bounded-body.ts";
import { connectionFailure, failureText } from "./failure-text.ts";

/** JSON-RPC code for "the upstream could not answer" (implementation-defined server error range). */
export const UPSTREAM_UNAVAILABLE = -32000;

/** An upstream request that went without an answer or progress for too long. */
export class UpstreamTimeout extends Error {
  constructor(ms: number) {
    super(`the upstream server did not answer or report progress for ${Math.round(ms / 1000)} s`);
    this.name = "UpstreamTimeout";
  }
}

/** A stdio child that exited by itself while the connection was in use: its calls in flight are told so. */
export class UpstreamExited extends Error {
  constructor(exit: string) {
    super(`the upstream server closed the connection: its process exited by itself, ${exit}`);
    this.name = "UpstreamExited";
  }
}

/**
 * An upstream's error that reaches the client as it is, where the SDK's server would rewrite a ProtocolError: it
 * answers -32603 for a thrown -32042 on the 2026-07-28 hop (url-elicitation.ts), but any other error with its own
 * code, message and data.
 */
export class RelayedUpstreamError extends Error {
  readonly code: number;
  readonly data?: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = "RelayedUpstreamError";
    this.code = code;
    if (data !== undefined) this.data = data;
  }
}

/**
 * An HTTP upstream answered 404 to a request in its session: it forgot the session (restarted, redeployed, expired it),
 * and the connection is closed so that the next request begins a new one.
 */
export class UpstreamSessionLost extends Error {
  constructor() {
    super(
      "the upstream server no longer knows this connection's session (it restarted, or expired it); the next request opens a new one",
    );
    this.name = "UpstreamSessionLost";
  }
}

/**
 * An HTTP upstream's streamed answer ended, or its connection broke, before it carried the answer (a restart, a proxy
 * cutting the connection) and gave no event id to resume from: the connection is closed so its calls are answered now.
 */
export class UpstreamAnswerBrokenOff extends Error {
  constructor() {
    super("the upstream server's answer broke off: its stream ended before the answer");
    this.name = "UpstreamAnswerBrokenOff";
  }
}

/** The connection broke by itself, and the origin knows why: said as such to the caller, counted as a failure. */
const isBroken = (error: unknown) =>
  error instanceof UpstreamMessageTooLarge ||
  error instanceof UpstreamExited ||
  error instanceof UpstreamSessionLost ||
  error instanceof UpstreamAnswerBrokenOff;

/**
 * What the client sees when forwarding fails. An upstream's own JSON-RPC error passes through with its code,
 * message and data; a timeout or a broken connection becomes an error that says which, never a hang.
 */
export function upstreamErrorToClient(error: unknown): Error {
  if (error instanceof ProtocolError || error instanceof RelayedUpstreamError) return error;
  if (error instanceof UpstreamTimeout || isBroken(error)) return unanswered((error as Error).message);
  const code = (error as { code?: unknown }).code;
  if (typeof code === "number" && Number.isInteger(code) && !(error instanceof SdkError))
    return new ProtocolError(code, (error as Error).message, (error as { data?: unknown }).data);
  if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout)
    return unanswered("the upstream server did not answer in time");
  if (error instanceof SdkError && error.code === SdkErrorCode.ConnectionClosed)
    return unanswered("the upstream server closed the connection");
  if ((error as Error)?.name === "AbortError") return error as Error;
  // An HTTP upstream's error body echoes the request (its credentials, the user's identity and arguments): told by
  // its status only; the circuit breaker's refusal to every user of the connection repeats this text.
  return unanswered(`the upstream server failed: ${failureText(error)}`);
}

/**
 * The origin's own error for a request the upstream never answered (a timeout, a connection gone, an HTTP 5xx): marked
 * so that it is audited `unavailable`, not as an error the upstream answered (contract/answer-outcome.ts).
 */
const unanswered = (message: string) => new ProtocolError(UPSTREAM_UNAVAILABLE, message, { [UNANSWERED_BY_UPSTREAM]: true });

/** The SDK's failures that mean no answer came back: the connection is gone, refused the message, or stayed silent. */
const UNANSWERED: ReadonlySet<string> = new Set([
  SdkErrorCode.NotConnected,
  SdkErrorCode.ConnectionClosed,
  SdkErrorCode.SendFailed,
  SdkErrorCode.RequestTimeout,
]);

/**
 * Whether a failed upstream request means the upstream did not answer (a timeout, a broken or refused connection, a
 * server error from an HTTP upstream): what its circuit breaker counts. Anything else is not: an error the upstream
 * answered with, a refusal of the user's credentials or a need for their consent, a cancellation.
 */
export function upstreamUnavailable(error: unknown): boolean {
  // The SDK's transport may wrap what its fetch threw: a need for consent inside a send failure is still no outage.
  if (consentRequiredIn(error)) return false;
  if (error instanceof UpstreamTimeout || isBroken(error)) return true;
  if (error instanceof SdkHttpError) return error.status >= 500;
  if (error instanceof SdkError) return UNANSWERED.has(error.code);
  return connectionFailure(error) !== undefined;
}

/** What a server restarting behind its own balancer answers, briefly. */
const PASSING_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * Whether a failure may pass if the request is sent again at once: a connection that failed on the way (refused,
 * reset, not sent) or a gateway status of an HTTP upstream. Not a timeout (the wait was spent already), not an answer,
 * not a need for the user's consent.
 */
export function worthRetrying(error: unknown): boolean {
  if (consentRequiredIn(error)) return false;
  if (error instanceof SdkHttpError) return PASSING_STATUSES.has(error.status);
  if (error instanceof SdkError) return error.code === SdkErrorCode.SendFailed;
  return connectionFailure(error) !== undefined;
}
