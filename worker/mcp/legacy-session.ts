import type { RequestAudit } from "../audit/request-audit.ts";
import type { EdgeEnv } from "../env.ts";
import { asResponse } from "./bridge/direct-answer.ts";
import { originLinkOf } from "./bridge/origin-exchange.ts";
import type { SessionIdentity } from "./bridge/session-record.ts";
import { resumesGetStream } from "./bridge/stream-watch.ts";
import type { RequestFacts } from "./inspect-request.ts";
import { JSON_RPC, jsonRpcError } from "./json-rpc-error.ts";
import { headersToOrigin } from "./relay-headers.ts";
import { sessionNotFound } from "./session-not-found.ts";
import { holdSessionStream } from "./session-stream.ts";

/** Session ids the edge mints: 32 random bytes, base64url (visible ASCII, as the 2025 protocol asks). */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Whether a request belongs to a 2025-era session (terminated at the edge in a Durable Object) rather than
 * being a 2026-07-28 request (relayed to the origin as it is). GET and DELETE are session operations; a POST is
 * if it claims no 2026 version and opens a session, names one, or answers a server-to-client request. Anything
 * else goes to the origin, whose answers to malformed modern requests are the protocol's own.
 */
export function isSessionRequest(request: Request, facts: RequestFacts): boolean {
  if (request.method === "GET" || request.method === "DELETE") return true;
  if (facts.modern) return false;
  if (sseSessionOf(request)) return true;
  return facts.method === "initialize" || facts.isResponse === true || request.headers.has("mcp-session-id");
}

/** The query parameter a 2024-11-05 HTTP+SSE client's POSTs name their session with. */
const SSE_SESSION_PARAMETER = "sessionId";
const sseSessionOf = (request: Request) => new URL(request.url).searchParams.get(SSE_SESSION_PARAMETER) ?? undefined;

/**
 * A 2024-11-05 HTTP+SSE client opens its stream with a GET that names no session (a Streamable HTTP client always
 * initializes first), and then POSTs to the URL the stream's first event names.
 */
async function toSseSession(
  env: EdgeEnv,
  request: Request,
  body: string | undefined,
  identity: SessionIdentity,
  audit: () => RequestAudit,
): Promise<Response> {
  const existing = sseSessionOf(request);
  const sessionId = existing ?? newSessionId();
  if (!SESSION_ID.test(sessionId)) return sessionNotFound("open a new SSE stream");
  const session = env.MCP_SESSION.get(env.MCP_SESSION.idFromName(sessionId));
  if (!existing) {
    const url = new URL(request.url);
    return session.openSse(identity, sessionId, `${url.pathname}?${SSE_SESSION_PARAMETER}=${sessionId}`);
  }
  let message: Record<string, unknown>;
  try {
    message = JSON.parse(body ?? "");
  } catch {
    return jsonRpcError(400, undefined, JSON_RPC.parseError, "the body is not a JSON-RPC message");
  }
  return session.postSse(message, identity, audit());
}

/** Hands a 2025-era request to its session object, minting the session on `initialize`. */
export async function toSession(
  env: EdgeEnv,
  request: Request,
  body: string | undefined,
  facts: RequestFacts,
  identity: SessionIdentity,
  /** The request's audit facts, for a POST (its session object audits a request it answers later); built only then. */
  audit: () => RequestAudit,
): Promise<Response> {
  const startsSseStream = request.method === "GET" && !request.headers.has("mcp-session-id") && acceptsEventStream(request);
  if (startsSseStream || (request.method === "POST" && sseSessionOf(request)))
    return toSseSession(env, request, body, identity, audit);
  let sessionId = request.headers.get("mcp-session-id") ?? undefined;
  if (facts.method === "initialize") sessionId = newSessionId();
  if (!sessionId) {
    return jsonRpcError(
      400,
      facts.id,
      JSON_RPC.invalidRequest,
      "Bad Request: Mcp-Session-Id header is required (send initialize first)",
    );
  }
  if (!SESSION_ID.test(sessionId)) return sessionNotFound("initialize a new session", facts.id);
  const session = env.MCP_SESSION.get(env.MCP_SESSION.idFromName(sessionId));
  const lastEventId = request.headers.get("last-event-id");
  if (request.method === "GET" && acceptsEventStream(request) && resumesGetStream(lastEventId)) {
    return holdSessionStream(session, originLinkOf(env), identity, sessionId, lastEventId || undefined);
  }
  const http = { url: request.url, method: request.method, headers: Object.fromEntries(headersToOrigin(request.headers)), body };
  return asResponse(await session.serve(http, identity, sessionId, request.method === "POST" ? audit() : undefined));
}

const acceptsEventStream = (request: Request) => (request.headers.get("accept") ?? "").includes("text/event-stream");

function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}
