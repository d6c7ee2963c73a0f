import type { EdgeEnv } from "../env.ts";
import { serverSegment } from "../mcp/server-path.ts";
import { recordAudit } from "./record.ts";

/**
 * Audits an MCP request that presented a token and was refused by the OAuth library (expired, revoked, forged, or for
 * another resource): a security team wants to see those. Only the library's own refusals count: they carry its Bearer
 * challenge (`WWW-Authenticate`), which the relay never passes on from the origin (worker/mcp/relay-headers.ts). A 403
 * the origin answered for a valid token (the policy refusing a whole server) is the MCP request's own row, with its
 * user; a second, anonymous row would read as a token attack. A request without any token is a client discovering
 * that it must sign in, and is not audited.
 */
export function auditRefusedToken(
  request: Request,
  response: Response,
  env: EdgeEnv,
  ctx: ExecutionContext,
  started: number,
): void {
  if (!response.headers.get("www-authenticate")?.toLowerCase().startsWith("bearer")) return;
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
