import type { EdgeEnv } from "../env.ts";
import { serverSegment } from "../mcp/server-path.ts";
import { recordAudit } from "./record.ts";

/**
 * Audits an MCP request that presented a token and was refused (expired, revoked, forged, or for another
 * resource): a security team wants to see those. A request without any token is a client discovering that
 * it must sign in, and is not audited.
 */
export function auditRefusedToken(
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
