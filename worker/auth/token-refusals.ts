import { recordAudit } from "../audit/record.ts";
import type { EdgeEnv } from "../env.ts";

/**
 * The header by which the library's `onError` marks its refusal of a presented code, refresh token or client with the
 * check that failed, for the token endpoint to audit (the hook has no env to record with). It never leaves the Worker:
 * `takeRefusal` takes it off.
 */
const REFUSED_CHECK = "mcp-edge-token-refusal";

/** The library's subsystems whose refusals are of what a client presented at the token endpoint. */
const PRESENTED = new Set([
  "authorization-code-grant",
  "refresh-token-grant",
  "client-authentication",
  "token-exchange-callback",
]);
/** Refusals of the code, token or client itself: a malformed request (`invalid_request`) is a client's bug, not audited. */
const REFUSED = new Set(["invalid_grant", "invalid_client"]);

/** What the library's `onError` hook is given (its own type is not exported). */
export interface LibraryError {
  code: string;
  description: string;
  status: number;
  headers: Record<string, string>;
  internal?: { category: string; reason: string };
}

/**
 * The library's error answer as it would write it, marked with `<category>/<reason>` when it refuses what the client
 * presented (a replayed or unknown code, an expired or revoked refresh token, an unknown client); else undefined, and
 * the library answers unmarked.
 */
export function markedRefusal({ code, description, status, headers, internal }: LibraryError): Response | undefined {
  if (!internal || !REFUSED.has(code) || !PRESENTED.has(internal.category)) return undefined;
  return new Response(JSON.stringify({ error: code, error_description: description }), {
    status,
    headers: { "Content-Type": "application/json", ...headers, [REFUSED_CHECK]: `${internal.category}/${internal.reason}` },
  });
}

/** The answer as the client gets it (unmarked), and the check the library refused it for, when it was marked. */
export function takeRefusal(response: Response): { answer: Response; check?: string } {
  const check = response.headers.get(REFUSED_CHECK);
  if (check === null) return { answer: response };
  const answer = new Response(response.body, response);
  answer.headers.delete(REFUSED_CHECK);
  return { answer, check };
}

/**
 * Audits a token request the library refused (`auth.denied`, `method` `<at> (<category>/<reason>)`, the check its log
 * line names): a replayed authorization code (the sign of a stolen one; the library revoked its grant), a refresh
 * token expired, revoked or of another client, an unknown client. `at` is `/oauth/token`, or for the edge's own
 * sign-ins the path their browser came back to (own-browser-client.ts), which says whose code it was. The client is
 * named only when it was accepted (an `invalid_grant`): an unknown one's id is anyone's text.
 */
export function auditTokenRefusal(
  env: EdgeEnv,
  ctx: Pick<ExecutionContext, "waitUntil">,
  refusal: { at: string; check: string; status: number; clientId: string | null; started: number },
): void {
  const accepted = refusal.status !== 401 && refusal.clientId;
  recordAudit(env, ctx, {
    kind: "auth.denied",
    outcome: "denied",
    method: `${refusal.at} (${refusal.check})`,
    httpStatus: refusal.status,
    ...(accepted && { clientId: refusal.clientId as string }),
    latencyMs: Date.now() - refusal.started,
  });
}
