import type { FetchLike } from "@modelcontextprotocol/client";
import { connectionsWithin } from "./guarded-connections.ts";
import { internalTargetGuard, limitOf, type Reach } from "./internal-targets.ts";

/**
 * The longest one step with an upstream's authorization server may take (a discovery, a registration, a token
 * request), every request and redirect of it together.
 */
export const AUTHORIZATION_SERVER_TIMEOUT_MS = 10_000;
/** The most of one answer of an authorization server the origin reads: metadata and token answers are a few KiB. */
export const MAX_AUTHORIZATION_SERVER_ANSWER_BYTES = 1024 * 1024;

/** Statuses whose answers carry no body (a Response with one cannot be made). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * The fetch for one step with an upstream's authorization server: the step fails once it has taken
 * AUTHORIZATION_SERVER_TIMEOUT_MS (its address checks included), however many requests and redirects the SDK makes in
 * it, and an answer past MAX_AUTHORIZATION_SERVER_ANSWER_BYTES fails it too. A user's call waits on it, and a refresh
 * keeps the user's row marked while it waits (TokenVault.beginRefresh): a silent or endless server must cost a clear
 * error, not a request that never ends or the origin's memory. Every request's address is checked against
 * `reference`, the URL the step's target was found from (internal-targets.ts), when it is made, and each connection's
 * address when it is opened (guarded-connections.ts): a redirect, and an address that changed since, are caught too.
 */
export function authorizationServerStep(reference: string): FetchLike {
  const deadline = AbortSignal.timeout(AUTHORIZATION_SERVER_TIMEOUT_MS);
  const refuseInternal = internalTargetGuard(reference);
  let limit: Promise<Reach> | undefined;
  return async (url, init) => {
    await beforeDeadline(refuseInternal(String(url), "a URL of the authorization server"), deadline);
    limit ??= limitOf(reference);
    const response = await fetch(url, {
      ...init,
      signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline,
      // Redirects and every connection's address are checked again as they are made.
      dispatcher: connectionsWithin(await limit),
    } as RequestInit);
    return withBodyLimit(response, MAX_AUTHORIZATION_SERVER_ANSWER_BYTES);
  };
}

/** The work's outcome, or the deadline's reason if it passes first (a name lookup has no time limit of its own). */
function beforeDeadline<T>(work: Promise<T>, deadline: AbortSignal): Promise<T> {
  if (deadline.aborted) return Promise.reject(deadline.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(deadline.reason);
    deadline.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => deadline.removeEventListener("abort", onAbort));
  });
}

function withBodyLimit(response: Response, maxBytes: number): Response {
  if (!response.body || NULL_BODY_STATUSES.has(response.status)) return response;
  let read = 0;
  const limited = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > maxBytes) controller.error(new Error(`the authorization server's answer passed ${maxBytes} bytes`));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new Response(limited, { status: response.status, statusText: response.statusText, headers: response.headers });
}
