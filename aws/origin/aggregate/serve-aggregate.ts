import { CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY } from "@modelcontextprotocol/server";
import type { Policy } from "../../../contract/config/policy.ts";
import { ALL_SERVERS } from "../../../contract/edge-assertion.ts";
import { userPolicy } from "../policy/user-policy.ts";
import type { VerifiedAssertion } from "../trust/verify-assertion.ts";
import { Aggregation, type LeftOutReport } from "./aggregation.ts";
import { mergedDiscover } from "./discover.ts";
import { type AskServer, UnsendableRequest } from "./fan-out.ts";
import { mergedListen } from "./listen.ts";
import { mergedList } from "./lists.ts";
import { asRequest, errorAnswer, resultAnswer } from "./messages.ts";
import { forwardByName } from "./route-by-name.ts";
import { forwardByUri, forwardCompletion } from "./route-by-uri.ts";

export interface AggregateOptions {
  /** Every configured server, in the order lists show them. */
  servers: readonly string[];
  policy?: Policy;
  /** How long a list waits for one server before leaving it out. */
  upstreamTimeoutMs: number;
  /** SSE comment interval on the merged listen stream (0: none). */
  keepAliveMs: number;
  /** One server's own endpoint, as the user (the assertion names that server). */
  askServer: (server: string, assertion: VerifiedAssertion, request: Request) => Promise<Response>;
  /** A server was left out of an answer (log it and audit it). */
  leftOut: (server: string, method: string, reason: string, assertion: VerifiedAssertion) => void;
}

type Route = (aggregation: Aggregation, options: AggregateOptions) => Promise<Response>;

const MISSING_ENVELOPE = `the request lacks the 2026-07-28 envelope: params._meta must carry "${PROTOCOL_VERSION_META_KEY}" and "${CLIENT_CAPABILITIES_META_KEY}"`;

const isJson = (request: Request) =>
  (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() === "application/json";

/** What each method means on the aggregated endpoint. Anything else is not served here (-32601). */
const ROUTES: Record<string, Route> = {
  "server/discover": (aggregation) => mergedDiscover(aggregation),
  "tools/list": (aggregation) => mergedList(aggregation, "tools/list"),
  "prompts/list": (aggregation) => mergedList(aggregation, "prompts/list"),
  "resources/list": (aggregation) => mergedList(aggregation, "resources/list"),
  "resources/templates/list": (aggregation) => mergedList(aggregation, "resources/templates/list"),
  "tools/call": (aggregation) => forwardByName(aggregation, "tool"),
  "prompts/get": (aggregation) => forwardByName(aggregation, "prompt"),
  "resources/read": (aggregation) => forwardByUri(aggregation),
  "completion/complete": (aggregation) => forwardCompletion(aggregation),
  "subscriptions/listen": (aggregation, options) => mergedListen(aggregation, options.keepAliveMs),
  ping: async (aggregation) => resultAnswer(aggregation.message.id, {}),
};

/**
 * POST /mcp at the origin: the aggregated endpoint, 2026-07-28 stateless like each server's. Lists are merged from
 * every server the user may use (tools and prompts renamed so that they never collide), and each call is routed back
 * to its server's own endpoint, where policy, era adaptation and input-required rounds work as they do there.
 */
export async function serveAggregate(
  options: AggregateOptions,
  assertion: VerifiedAssertion,
  request: Request,
): Promise<Response> {
  if (assertion.purpose !== "mcp") return errorAnswer(403, null, -32000, "the edge assertion is not for an MCP request");
  if (assertion.server !== ALL_SERVERS) {
    return errorAnswer(403, null, -32000, `the edge assertion is for server "${assertion.server ?? "(none)"}", not every server`);
  }
  if (request.method !== "POST") return errorAnswer(405, null, -32000, "the aggregated endpoint takes POST only (2026-07-28)");
  // What every server's endpoint would refuse is refused here, once: not sent to each, and reported as each left out.
  if (!isJson(request)) return errorAnswer(415, null, -32000, "Unsupported Media Type: Content-Type must be application/json");
  const body = await request.json().catch(() => undefined);
  const message = asRequest(body);
  // A notification needs no answer; cancellation on 2026-07-28 is the client closing its request.
  if (!message) return body && typeof body === "object" && "method" in body ? new Response(null, { status: 202 }) : parseError();
  // Own properties only: a method named `constructor` or `__proto__` is a method this endpoint does not know.
  const route = Object.hasOwn(ROUTES, message.method) ? ROUTES[message.method] : undefined;
  if (!route)
    return errorAnswer(404, message.id, -32601, `method "${message.method}" is not available on the aggregated endpoint`);
  const meta = message.params._meta as Record<string, unknown> | undefined;
  const envelope =
    typeof meta?.[PROTOCOL_VERSION_META_KEY] === "string" && typeof meta?.[CLIENT_CAPABILITIES_META_KEY] === "object";
  if (message.method !== "ping" && !envelope) return errorAnswer(400, message.id, -32602, MISSING_ENVELOPE);
  const access = userPolicy(options.policy, assertion);
  const ask: AskServer = (server, sub) => options.askServer(server, { ...assertion, server }, sub);
  const report: LeftOutReport = (server, method, reason) => options.leftOut(server, method, reason, assertion);
  const permitted = options.servers.filter((server) => access.server(server).allowed);
  const aggregation = new Aggregation({
    message,
    request,
    permitted,
    allServers: options.servers,
    contentsWithheld: permitted.filter((server) => !access.contents(server).allowed),
    ask,
    timeoutMs: options.upstreamTimeoutMs,
    report,
  });
  try {
    return await route(aggregation, options);
  } catch (error) {
    if (error instanceof UnsendableRequest) return errorAnswer(400, message.id, INVALID_REQUEST, error.message);
    throw error;
  }
}

const INVALID_REQUEST = -32600;

const parseError = () => errorAnswer(400, null, -32700, "expected one JSON-RPC message");
