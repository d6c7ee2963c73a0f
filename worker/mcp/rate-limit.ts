import { MCP_BUCKET } from "../../durable-objects/rate-limiter.ts";
import type { EdgeEnv } from "../env.ts";
import { JSON_RPC } from "./json-rpc-error.ts";

/** The window of the rate-limiting bindings (wrangler.toml `period`): what a refused client is told to wait. */
const PERIOD_SECONDS = 60;

/** Who is counted: a client IP (before the token is looked at: a flood of bad tokens is cut here) or a signed-in user. */
export type RateSubject = { ip: string } | { userSub: string };

/**
 * Counts one MCP request against its subject's limit with the Workers rate-limiting binding (`RATE_LIMIT_IP`,
 * `RATE_LIMIT_USER`: limits in wrangler.toml, counted per Cloudflare location, no storage round trip). Returns
 * the 429 to answer, or null to go on; without the binding (local development) nothing is limited. Refusals are
 * audited as one `mcp.rate_limited` event per subject and minute, with their count, never one row each.
 */
export async function mcpRateLimited(
  env: EdgeEnv,
  ctx: Pick<ExecutionContext, "waitUntil">,
  subject: RateSubject,
): Promise<Response | null> {
  const limiter = ("ip" in subject ? env.RATE_LIMIT_IP : env.RATE_LIMIT_USER) as RateLimit | undefined;
  if (!limiter) return null;
  const key = "ip" in subject ? `ip:${subject.ip}` : `user:${subject.userSub}`;
  const { success } = await limiter.limit({ key });
  if (success) return null;
  const counter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key));
  ctx.waitUntil(counter.noteRefused(MCP_BUCKET, "userSub" in subject ? subject.userSub : undefined).catch(() => {}));
  const message = `too many requests from ${"ip" in subject ? "this address" : "this user"}; retry in ${PERIOD_SECONDS} seconds`;
  return Response.json(
    { jsonrpc: "2.0", id: null, error: { code: JSON_RPC.upstreamUnavailable, message } },
    { status: 429, headers: { "retry-after": String(PERIOD_SECONDS) } },
  );
}
