import { MCP_BUCKET, type RateLimitedCaller } from "../../durable-objects/rate-limiter.ts";
import type { EdgeEnv } from "../env.ts";
import { addressKey } from "../http/address-key.ts";
import { JSON_RPC } from "./json-rpc-error.ts";

/** The window of the rate-limiting bindings (wrangler.toml `period`): what a refused client is told to wait. */
const PERIOD_SECONDS = 60;

/**
 * Who is counted: a client address, for requests whose token is refused (a flood of bad tokens is cut before each
 * refusal is audited; valid tokens never spend it, so colleagues behind one NAT are not limited together), a
 * signed-in user, or one OAuth client of a user (a runaway agent is stopped before it spends its user's whole budget,
 * so the user's other clients keep working).
 */
export type RateSubject = { ip: string } | { user: RateLimitedCaller };

/** Each kind of subject: its binding (limits in wrangler.toml), its counter's key, and how a refusal names it. */
const SUBJECTS = {
  ip: { binding: "RATE_LIMIT_IP", key: (ip: string) => `ip:${addressKey(ip)}`, who: "this address" },
  user: { binding: "RATE_LIMIT_USER", key: (caller: RateLimitedCaller) => `user:${caller.userSub}`, who: "this user" },
  client: {
    binding: "RATE_LIMIT_CLIENT",
    key: (caller: RateLimitedCaller) => `client:${caller.userSub}\u0000${caller.clientId}`,
    who: "this client (the user's other clients are not limited by it)",
  },
} as const;

/**
 * Counts one MCP request (or each message of a batch) against its subject's limits with the Workers rate-limiting
 * bindings (`RATE_LIMIT_IP`; `RATE_LIMIT_CLIENT` then `RATE_LIMIT_USER` for a signed-in caller: counted per Cloudflare
 * location, no storage round trip). Returns the 429 to answer, or null to go on; an unbound binding (local
 * development) limits nothing.
 * A request its client's limit refuses is not counted against its user's. Refusals are audited as one
 * `mcp.rate_limited` event per subject and minute, with their count, never one row each.
 */
export async function mcpRateLimited(
  env: EdgeEnv,
  ctx: Pick<ExecutionContext, "waitUntil">,
  subject: RateSubject,
  /** How many MCP requests this counts as: a 2025-03-26 batch's messages are each relayed and audited. */
  messages = 1,
): Promise<Response | null> {
  if ("ip" in subject) return refusedBy(env, ctx, SUBJECTS.ip.binding, SUBJECTS.ip.key(subject.ip), SUBJECTS.ip.who);
  const { userSub, clientId } = subject.user;
  const client = SUBJECTS.client;
  const caller = { userSub, clientId };
  const byClient = await refusedBy(env, ctx, client.binding, client.key(subject.user), client.who, caller, messages);
  if (byClient) return byClient;
  const user = SUBJECTS.user;
  return refusedBy(env, ctx, user.binding, user.key(subject.user), user.who, { userSub }, messages);
}

async function refusedBy(
  env: EdgeEnv,
  ctx: Pick<ExecutionContext, "waitUntil">,
  binding: string,
  key: string,
  who: string,
  caller?: RateLimitedCaller,
  messages = 1,
): Promise<Response | null> {
  const limiter = env[binding] as RateLimit | undefined;
  if (!limiter) return null;
  if (await spent(limiter, key, messages)) return null;
  const counter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key));
  ctx.waitUntil(counter.noteRefused(MCP_BUCKET, caller).catch((error: unknown) => countLost(key, error)));
  const message = `too many requests from ${who}; retry in ${PERIOD_SECONDS} seconds`;
  return Response.json(
    { jsonrpc: "2.0", id: null, error: { code: JSON_RPC.upstreamUnavailable, message } },
    { status: 429, headers: { "retry-after": String(PERIOD_SECONDS) } },
  );
}

/**
 * Spends `messages` of a key's budget; false when the budget does not hold them all. The binding counts one per
 * `limit()` call and takes no count, so each message is one call, all at once (the binding answers from its
 * location's memory, no storage round trip). A batch the budget cannot hold is refused whole, what it spent stays
 * spent: its client is over the limit either way.
 */
async function spent(limiter: RateLimit, key: string, messages: number): Promise<boolean> {
  const outcomes = await Promise.all(Array.from({ length: messages }, () => limiter.limit({ key })));
  return outcomes.every((outcome) => outcome.success);
}

/**
 * A refusal whose count did not reach its counter object (overloaded, likeliest in the very flood being refused; or
 * restarting): the refusal stands, but `mcp.rate_limited` under-reports it, so the log says so. By the subject's kind
 * and the error's name only, as the other rate-limit lines: the key holds a user's id or an address.
 */
function countLost(key: string, error: unknown): void {
  const kind = key.slice(0, key.indexOf(":"));
  const reason = error instanceof Error ? error.name : typeof error;
  console.error(`rate limit: an MCP refusal (${kind} limit) was not counted (${reason}); mcp.rate_limited under-reports it`);
}
