import type { EdgeEnv } from "../env.ts";
import { serverSegment } from "../mcp/server-path.ts";
import { recordAudit } from "./record.ts";

/**
 * The header by which the edge's MCP handler marks a refusal it answered itself, for a token the library accepted (the
 * policy refusing a whole server, relayed from the origin; a user whose Workspace account is gone, whose 401 carries a
 * Bearer challenge of its own). It never leaves the Worker: `withoutHandlerMark` takes it off.
 */
const ANSWERED_BY_HANDLER = "mcp-edge-answered-by-handler";

/** The handler's answer, marked when it refuses (only then: a mark costs a copy of the response). */
export function markedAsHandled(response: Response): Response {
  if (response.status !== 401 && response.status !== 403) return response;
  const marked = new Response(response.body, response);
  marked.headers.set(ANSWERED_BY_HANDLER, "1");
  return marked;
}

/** The answer as the client gets it: without the handler's mark. */
export function withoutHandlerMark(response: Response): Response {
  if (!response.headers.has(ANSWERED_BY_HANDLER)) return response;
  const answer = new Response(response.body, response);
  answer.headers.delete(ANSWERED_BY_HANDLER);
  return answer;
}

/**
 * Whether the OAuth library refused the request's token (expired, revoked, forged, or for another resource): its
 * refusals carry its Bearer challenge and no handler mark. A refusal the handler answered for an accepted token is
 * the MCP request's own (with its user, audited by the handler): counting it again, anonymously, would read as a
 * token attack and spend the client address's allowance of bad tokens.
 */
export const refusedByLibrary = (response: Response): boolean =>
  (response.status === 401 || response.status === 403) &&
  !response.headers.has(ANSWERED_BY_HANDLER) &&
  (response.headers.get("www-authenticate")?.toLowerCase().startsWith("bearer") ?? false);

/**
 * Audits an MCP request whose token the OAuth library refused (`refusedByLibrary`): a security team wants to see
 * those. A request without any token is a client discovering that it must sign in, and is not audited.
 */
export function auditRefusedToken(
  request: Request,
  response: Response,
  env: EdgeEnv,
  ctx: ExecutionContext,
  started: number,
): void {
  if (!refusedByLibrary(response)) return;
  auditRefusedRequest(request, response, env, ctx, started);
}

/**
 * Audits a request that presented a token and was refused before the token was looked at (a browser page of another
 * site, worker/mcp/origin-check.ts).
 */
export function auditRefusedRequest(
  request: Request,
  response: Response,
  env: EdgeEnv,
  ctx: ExecutionContext,
  started: number,
): void {
  if ((response.status !== 401 && response.status !== 403) || !request.headers.has("authorization")) return;
  const server = serverSegment(new URL(request.url).pathname);
  recordAudit(env, ctx, {
    kind: "auth.denied",
    outcome: "denied",
    server,
    httpStatus: response.status,
    latencyMs: Date.now() - started,
  });
}
