import type { OAuthResourceContext } from "@cloudflare/workers-oauth-provider";
import { ANSWER_ROUTE_HEADER, type AnswerRoute, parseAnswerRoute, SESSION_AUDITS_HEADER } from "../../contract/answer-outcome.ts";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import { ALL_SERVERS, originMcpPath } from "../../contract/edge-assertion.ts";
import { recordAudit } from "../audit/record.ts";
import { completedAudit, type RequestAudit } from "../audit/request-audit.ts";
import { userWithCurrentGroups } from "../auth/groups/request-groups.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv, UserProps } from "../env.ts";
import { originAffinity } from "../upstream/affinity.ts";
import { fetchOrigin } from "../upstream/fetch-origin.ts";
import { ORIGIN_RETRY_AFTER_SECONDS, originFailureOf } from "../upstream/origin-failure.ts";
import { auditedTarget } from "./audited-target.ts";
import { authorizationOf } from "./authorization-bound.ts";
import { authorizedUntil } from "./bridge/session-record.ts";
import { MAX_NESTING_DEPTH, type RequestFacts, requestFacts } from "./inspect-request.ts";
import { JSON_RPC, jsonRpcError } from "./json-rpc-error.ts";
import { isSessionRequest, toSession } from "./legacy-session.ts";
import { listenUntil } from "./listen-until.ts";
import { type Observation, observeBatch, observeResponse } from "./observe-response.ts";
import { mcpRateLimited } from "./rate-limit.ts";
import { declaredBytes, MAX_REQUEST_BYTES, readBody } from "./read-body.ts";
import { headersToClient, headersToOrigin } from "./relay-headers.ts";
import { serverOf } from "./server-path.ts";
import { streamOpeningOf } from "./session-stream.ts";

/** The most messages a batch may hold: what the SDKs accept, and a bound on the audit events one request makes. */
const MAX_BATCH_MESSAGES = 100;

/** The status recorded for a request its client cancelled before the answer (no standard one exists). */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * `/mcp/<server>`: the user is authenticated (the resource server checked the token). A 2026-07-28 request is
 * relayed to the origin under an edge assertion, unchanged in both directions; a 2025-era client's session is
 * served by its session object, which speaks 2026-07-28 to the origin. Either way the exchange is audited.
 */
export async function handleMcp(request: Request, env: EdgeEnv, ctx: OAuthResourceContext<UserProps>): Promise<Response> {
  const started = Date.now();
  const user = await userWithCurrentGroups(env, ctx, request); // groups no older than groups.ttlSeconds, or a 503 refusal
  if (user instanceof Response) return user;
  const exchange: Exchange = { env, ctx, user, started, config: edgeConfig(env) };
  const admitted = await admit(request, exchange);
  if (admitted instanceof Response) return admitted;
  const originResponse = await relay(request, exchange, admitted);
  const { response, outcomeOf } = await observe(originResponse, admitted.facts);
  // Only a session object may take a request's audit over; the origin's answers never can.
  const auditedBySession = originResponse.headers.has(SESSION_AUDITS_HEADER) && isSessionRequest(request, admitted.facts);
  // Where the aggregated endpoint sent the request: the origin says so (and a session object passes it on when it
  // answers in one JSON body), for one message only: a batch's messages could each have gone elsewhere.
  const routed = admitted.server === ALL_SERVERS && !admitted.facts.batch;
  const route = routed ? parseAnswerRoute(originResponse.headers.get(ANSWER_ROUTE_HEADER)) : undefined;
  if (!auditedBySession) auditExchange(exchange, admitted, originResponse.status, outcomeOf, route);
  return new Response(response.body, { status: response.status, headers: headersToClient(response.headers) });
}

/** One MCP request at the edge: who asks, when it began, and the edge's configuration. */
interface Exchange {
  env: EdgeEnv;
  ctx: OAuthResourceContext<UserProps>;
  user: UserProps;
  started: number;
  config: EdgeConfig;
}

/** A request the edge has accepted: for which server, its body, and what it asks. */
interface Admitted {
  server: string;
  body: string | undefined;
  bytes: number;
  facts: RequestFacts;
}

/**
 * The checks before anything reaches the origin: the user's rate limit, the server named by the path, the body's
 * size and nesting, and batch rules. A request refused here is audited like any other, with what could be read of it.
 */
async function admit(request: Request, exchange: Exchange): Promise<Admitted | Response> {
  const { env, ctx, user, started, config } = exchange;
  const caller = { user: { userSub: user.sub, clientId: ctx.auth.clientId } };
  const limited = await mcpRateLimited(env, ctx, caller);
  if (limited) return limited;
  const read = await readBody(request);
  const facts = requestFacts(request, read === null ? null : read.text);
  const refuse = (status: number, code: number, message: string, server?: string) => {
    recordAudit(env, ctx, {
      kind: "mcp.request",
      userSub: user.sub,
      userEmail: user.email,
      clientId: ctx.auth.clientId,
      server,
      method: facts.method,
      protocolVersion: facts.protocolVersion,
      requestBytes: read === null ? declaredBytes(request) : read.bytes,
      outcome: status === 413 || status === 400 ? "error" : "denied",
      errorCode: code,
      httpStatus: status,
      latencyMs: Date.now() - started,
    });
    return jsonRpcError(status, undefined, code, message);
  };
  const server = serverOf(new URL(request.url).pathname, config.servers);
  if (!server.success) return refuse(404, JSON_RPC.methodNotFound, server.message);
  if (read === null) return refuse(413, JSON_RPC.invalidRequest, `request body over ${MAX_REQUEST_BYTES} bytes`, server.name);
  if (facts.tooDeep) {
    const message = `the request nests arrays and objects deeper than ${MAX_NESTING_DEPTH} levels`;
    return refuse(400, JSON_RPC.invalidRequest, message, server.name);
  }
  // Batches went away in 2025-06-18 and never came back: a batch is served only to a 2025-03-26 client, and then
  // each of its messages is audited on its own, so that no call hides in one.
  if (facts.batch && !batchAllowed(facts.batch, request.headers.get("mcp-protocol-version"))) {
    return refuse(
      400,
      JSON_RPC.invalidRequest,
      "JSON-RPC batches are not allowed after protocol version 2025-03-26: send one message per request",
      server.name,
    );
  }
  if (facts.batch && facts.batch.length > MAX_BATCH_MESSAGES) {
    const message = `a JSON-RPC batch may hold at most ${MAX_BATCH_MESSAGES} messages; this one holds ${facts.batch.length}: send it in parts`;
    return refuse(400, JSON_RPC.invalidRequest, message, server.name);
  }
  // A batch's messages are each relayed, answered and audited: each costs the rate limits one request, or a batch of
  // 100 would make a limit of 600 a minute 60,000. The request itself was counted above, before its body was read.
  const more = (facts.batch?.length ?? 1) - 1;
  const limitedBatch = more > 0 ? await mcpRateLimited(env, ctx, caller, more) : null;
  if (limitedBatch) return limitedBatch;
  return { server: server.name, body: read.text, bytes: read.bytes, facts };
}

/** The request to its session object (a 2025-era client) or to the origin; a failure becomes the answer to relay. */
async function relay(request: Request, exchange: Exchange, admitted: Admitted): Promise<Response> {
  const { env, ctx, user, config } = exchange;
  const { server, body, facts } = admitted;
  const claims = { sub: user.sub, email: user.email, groups: user.groups, client_id: ctx.auth.clientId ?? "unknown", server };
  // A listen (a 2025-era GET stream, a 2026-07-28 subscriptions/listen) lives no longer than what signed it.
  const authorization = authorizationOf(user, ctx.auth.expiresAt, config);
  try {
    if (isSessionRequest(request, facts)) {
      const identity = { ...claims, clientId: claims.client_id, ...authorization };
      return await toSession(env, request, body, facts, identity, () => requestAudit(exchange, admitted, facts));
    }
    const init = { method: request.method, headers: headersToOrigin(request.headers), body, signal: request.signal };
    const answer = await fetchOrigin(config, originMcpPath(server), claims, init, originAffinity(env));
    return facts.method === "subscriptions/listen" ? listenUntil(answer, authorizedUntil(authorization), facts.id) : answer;
  } catch (error) {
    return request.signal.aborted ? clientCancelled(facts.id) : originFailure(error, server, facts.id);
  }
}

type OutcomeOf = (message: RequestFacts) => Promise<Observation>;

/** The response to relay, and how each message of the request ended (a batch's each by its own answer). */
async function observe(response: Response, facts: RequestFacts): Promise<{ response: Response; outcomeOf: OutcomeOf }> {
  const opening = streamOpeningOf(response);
  if (opening) return { response, outcomeOf: () => opening };
  if (!facts.batch) {
    const observed = await observeResponse(response, facts.id, facts.method);
    return { response: observed.response, outcomeOf: () => observed.observed };
  }
  const isRequest = (message: RequestFacts) => message.id !== undefined && !message.isResponse;
  const ids = facts.batch.flatMap((message) => (isRequest(message) ? [message.id as string | number] : []));
  const observed = await observeBatch(response, ids);
  const outcomeOf = (message: RequestFacts) => observed.observed.then((of) => of(isRequest(message) ? message.id : undefined));
  return { response: observed.response, outcomeOf };
}

/** One audit event per message of the request, completed once its answer has been observed. */
function auditExchange(
  exchange: Exchange,
  admitted: Admitted,
  httpStatus: number,
  outcomeOf: OutcomeOf,
  route?: AnswerRoute,
): void {
  for (const message of admitted.facts.batch ?? [admitted.facts]) {
    const audit = requestAudit(exchange, admitted, message, route);
    const completed = outcomeOf(message).then((observation) => completedAudit(audit, httpStatus, observation));
    recordAudit(exchange.env, exchange.ctx, completed);
  }
}

/** What the audit knows of one message of the request (and, on `/mcp`, of where the origin sent it). */
function requestAudit(
  { ctx, user, started, config }: Exchange,
  admitted: Admitted,
  message: RequestFacts,
  route?: AnswerRoute,
): RequestAudit {
  const { server, tool } = auditedTarget(admitted.server, message, config.servers, route);
  return {
    kind: "mcp.request",
    userSub: user.sub,
    userEmail: user.email,
    clientId: ctx.auth.clientId,
    server,
    method: message.method,
    tool,
    arguments: message.arguments,
    protocolVersion: message.protocolVersion,
    requestBytes: admitted.bytes,
    started,
  };
}

/**
 * What the client gets when the origin cannot be reached (503) or does not begin to answer in time (504): retry soon;
 * or, when the request could not be signed small enough (500), what to ask an administrator for.
 */
function originFailure(error: unknown, server: string, id: string | number | undefined): Response {
  const failure = originFailureOf(error, server);
  const retryAfter = failure.retry ? { "retry-after": String(ORIGIN_RETRY_AFTER_SECONDS) } : undefined;
  return jsonRpcError(failure.status, id, failure.code, failure.message, retryAfter, failure.data);
}

/**
 * The client went away or cancelled (2026-07-28 cancels by closing the request): the origin's request was given up
 * with it. Nobody reads this answer; its status (nginx's "client closed request") is what the audit records.
 */
function clientCancelled(id: string | number | undefined): Response {
  return jsonRpcError(CLIENT_CLOSED_REQUEST, id, JSON_RPC.requestCancelled, "the client cancelled the request");
}

/** A batch is 2025-03-26 only (the version a session without the header is assumed to speak). */
function batchAllowed(batch: RequestFacts[], headerVersion: string | null): boolean {
  return batch.length > 0 && (headerVersion ?? "2025-03-26") === "2025-03-26" && batch.every((message) => !message.modern);
}
