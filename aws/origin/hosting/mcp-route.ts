import { INVALID_PARAMS } from "@modelcontextprotocol/server";
import { ANSWER_OUTCOME_HEADER, formatAnswerOutcome, outcomeOfAnswer } from "../../../contract/answer-outcome.ts";
import { POLICY_DENIED_CODE, type Policy } from "../../../contract/config/policy.ts";
import { tooManySubscriptions } from "../../../contract/resource-subscriptions.ts";
import { serverAccess } from "../policy/tool-access.ts";
import { userPolicy } from "../policy/user-policy.ts";
import type { VerifiedAssertion } from "../trust/verify-assertion.ts";
import type { Acquired, HostPool } from "./host-pool.ts";
import { HostingError } from "./hosting-error.ts";
import { refusedListen } from "./listen-refusal.ts";
import type { ListenShares } from "./listen-shares.ts";
import { type Caller, onBodyEnd } from "./upstream-host.ts";

/**
 * POST/GET/DELETE /servers/<server>/mcp: the edge relays a user's MCP exchange; this hands it to that user's
 * own upstream (the host stays busy, never reaped, until the response has been read to its end). The assertion must name the same server, so an assertion minted for one upstream opens no other.
 */
export async function serveMcp(
  pool: HostPool,
  server: string,
  assertion: VerifiedAssertion,
  request: Request,
  policy?: Policy,
  options: RouteOptions = {},
): Promise<Response> {
  if (assertion.purpose !== "mcp") return errorResponse(403, "the edge assertion is not for an MCP request");
  if (assertion.server !== server) {
    return errorResponse(403, `the edge assertion is for server "${assertion.server ?? "(none)"}", not "${server}"`);
  }
  // Refused before anything starts: a user the policy keeps off a server costs it no process and no traffic.
  const access = userPolicy(policy, assertion);
  const decision = access.server(server);
  if (!decision.allowed) return errorResponse(403, `refused by policy: ${decision.reason}`, POLICY_DENIED_CODE);
  const oversized = await oversizedListen(request);
  if (oversized) return oversized;
  const { listens } = options;
  const forListen = isListen(request);
  const share = listens && forListen ? listens.take(assertion.sub, server) : () => {};
  if (!share) return await tooManyListens(request, server, listens?.perUser ?? 0);
  const caller = { ...callerOf(assertion, server), access: serverAccess(access, server), aggregated: options.aggregated };
  let acquired: Acquired;
  try {
    acquired = await pool.acquire(server, caller, { forListen });
  } catch (error) {
    share();
    if (error instanceof HostingError) {
      const retryAfter = error.retryAfterSeconds === undefined ? undefined : { "retry-after": String(error.retryAfterSeconds) };
      return errorResponse(error.status, error.message, -32000, retryAfter);
    }
    throw error;
  }
  const release = () => {
    share();
    acquired.release();
  };
  let response: Response;
  try {
    response = await acquired.host.fetch(request, caller);
  } catch (error) {
    release();
    throw error;
  }
  if (forListen && !isJson(response)) {
    // An open listen holds its share, not the connection: the pool may stop the connection for another's request.
    const listening = acquired.listening();
    return onBodyEnd(response, () => {
      share();
      listening();
    });
  }
  if (!isJson(response)) return onBodyEnd(response, release);
  try {
    return labelledWithOutcome(await response.arrayBuffer(), response);
  } finally {
    release();
  }
}

export interface RouteOptions {
  /** Set by the aggregated endpoint, which relays to a server's own endpoint through here. */
  aggregated?: boolean;
  /** Each user's share of listens (absent: not counted, as in tests of one user). */
  listens?: ListenShares;
}

const isListen = (request: Request) => request.method === "POST" && request.headers.get("mcp-method") === "subscriptions/listen";

/**
 * The refusal of a listen past the user's share on a server: the client's other listens go on, and it may listen
 * again once one of them ends. Logged (without the user), since a client that leaks listens shows first here.
 */
async function tooManyListens(request: Request, server: string, perUser: number): Promise<Response> {
  console.warn(`listen refused on server ${server}: a user already holds ${perUser} open listens there on this instance`);
  const message = await request
    .clone()
    .json()
    .catch(() => null);
  const refusal = `too many open subscriptions/listen streams: at most ${perUser} per user on server "${server}" (relay.listensPerUser); close one and listen again`;
  const answer = refusedListen(message, -32000, refusal, 429);
  return labelledWithOutcome(await answer.arrayBuffer(), answer);
}

/**
 * The refusal of a `subscriptions/listen` naming more resources than one listen may watch, before the upstream is
 * asked to watch any. Only a request whose `Mcp-Method` says listen is read here: the SDK refuses a body whose method
 * differs from that header (and the host's watch ignores such a list past the bound).
 */
async function oversizedListen(request: Request): Promise<Response | undefined> {
  if (!isListen(request)) return undefined;
  type Listen = { id?: unknown; params?: { notifications?: { resourceSubscriptions?: unknown } } } | null;
  const message = (await request
    .clone()
    .json()
    .catch(() => null)) as Listen;
  const refusal = tooManySubscriptions(message?.params?.notifications?.resourceSubscriptions);
  if (!refusal) return undefined;
  const answer = refusedListen(message, INVALID_PARAMS, refusal, 200);
  return labelledWithOutcome(await answer.arrayBuffer(), answer);
}

const isJson = (response: Response) => response.headers.get("content-type")?.startsWith("application/json") ?? false;

/**
 * A JSON answer is one message, held whole here: the origin states its outcome in a header, so that the edge can
 * audit the request and relay the bytes without reading them.
 */
function labelledWithOutcome(bytes: ArrayBuffer, response: Response): Response {
  const outcome = outcomeOfAnswer(new TextDecoder().decode(bytes)) ?? { outcome: "error" as const };
  // The SDK's answer is built, not fetched, so its headers take the label in place; the new answer is built from the
  // bytes: one chunk, which the HTTP server writes in one go with its length.
  response.headers.set(ANSWER_OUTCOME_HEADER, formatAnswerOutcome(outcome));
  return new Response(new Uint8Array(bytes), { status: response.status, headers: response.headers });
}

/** The caller an assertion names, for one server. */
export const callerOf = (assertion: VerifiedAssertion, server: string): Caller => ({
  sub: assertion.sub,
  email: assertion.email,
  groups: assertion.groups,
  clientId: assertion.client_id,
  server,
  era: assertion.client_era ?? "modern",
});

const errorResponse = (status: number, message: string, code = -32000, headers?: Record<string, string>) =>
  Response.json({ jsonrpc: "2.0", id: null, error: { code, message } }, { status, headers });
