import { INVALID_PARAMS, type JSONRPCRequest, ProtocolError, Server, type ServerContext } from "@modelcontextprotocol/server";
import { answerWithinOf } from "../../../contract/answer-within.ts";
import { MAX_INPUT_WAIT_SECONDS } from "../../../contract/config/schema.ts";
import type { EdgeAssertionClaims } from "../../../contract/edge-assertion.ts";
import { relayedCapabilities } from "../../../contract/relayed-capabilities.ts";
import { originFailureOf } from "../../upstream/origin-failure.ts";
import { JSON_RPC } from "../json-rpc-error.ts";
import { exchangeWithOrigin, HOP_VERSION, type JsonRpcMessage, META, type OriginLink } from "./origin-exchange.ts";
import { clientOf, MAX_KEPT_CLIENT_CHARS, MAX_SUBSCRIPTIONS, type SessionRecord } from "./session-record.ts";

/** Fields of a 2026-07-28 result that a 2025-era client has no use for. */
const MODERN_ONLY_RESULT_FIELDS = ["resultType", "ttlMs", "cacheScope"] as const;
/** `_meta` keys the hop's server puts on every result (the 2025 client learned the server at `initialize`). */
const HOP_ONLY_META_KEYS: readonly string[] = [META.serverInfo];

/** Methods the session server answers itself; every other request is forwarded to the origin. */
export const SESSION_METHODS: ReadonlySet<string> = new Set([
  "initialize",
  "ping",
  "logging/setLevel",
  "resources/subscribe",
  "resources/unsubscribe",
]);

/** An exchange with the origin begun before the request reached the session server (see direct-answer.ts). */
export interface Prefetched {
  messages: AsyncIterable<JsonRpcMessage>;
  abort(reason?: unknown): void;
  /** On `/mcp`, where the origin routed the request (its ANSWER_ROUTE_HEADER), once its answer has begun. */
  route?: () => string | undefined;
}

export interface SessionServerDeps {
  origin: OriginLink;
  /** The session as it is now (it changes with `logging/setLevel` and subscriptions). */
  record: () => SessionRecord;
  /** The claims of the current caller (same user as the record; groups may have changed since). */
  claims: () => EdgeAssertionClaims;
  /** The record changed (log level, subscriptions): persist it. */
  save: (record: SessionRecord) => void;
  /** The resource subscriptions changed: the listen stream must follow. */
  subscriptionsChanged: () => void;
  /** The exchange already begun for this request id, if any: its first round is not sent again. */
  prefetched?: (id: string | number) => Prefetched | undefined;
  /**
   * Request `id` is about to be answered with the session's own failure (the origin unreachable, or its answer broken
   * off), not with anything the origin or upstream said: its audit is `unavailable`, whatever the code.
   */
  unavailable?: (id: string | number) => void;
}

/**
 * The MCP server a 2025-era client's session talks to. It looks like the upstream (its name, capabilities and
 * instructions, from the origin's `server/discover`), keeps what the 2025 protocol keeps per session (log level,
 * resource subscriptions) and forwards every other request to the origin as a self-contained 2026-07-28
 * request, turning `input_required` answers into requests to the client (see `relay`).
 */
export function sessionServer(deps: SessionServerDeps): Server {
  const record = deps.record();
  const server = new Server(record.discover.serverInfo, {
    capabilities: relayedCapabilities(record.discover.capabilities),
    instructions: record.discover.instructions,
  });
  server.fallbackRequestHandler = (request, ctx) => relay(deps, request, ctx);
  if (record.discover.capabilities.logging) {
    server.setRequestHandler("logging/setLevel", (request) => {
      deps.save({ ...deps.record(), logLevel: request.params.level });
      return {};
    });
  }
  if (record.discover.capabilities.resources?.subscribe) {
    const change = (uri: string, on: boolean) => {
      const subscriptions = new Set(deps.record().subscriptions);
      if (on) subscriptions.add(uri);
      else subscriptions.delete(uri);
      if (on && subscriptions.size > MAX_SUBSCRIPTIONS) {
        const message = `this session subscribes to ${MAX_SUBSCRIPTIONS} resources, the most it keeps; unsubscribe some first`;
        throw new ProtocolError(INVALID_PARAMS, message);
      }
      if (on && JSON.stringify([...subscriptions]).length > MAX_KEPT_CLIENT_CHARS.subscriptions) {
        const limit = MAX_KEPT_CLIENT_CHARS.subscriptions;
        throw new ProtocolError(
          INVALID_PARAMS,
          `this session's resource subscriptions would pass ${limit} characters; unsubscribe some first`,
        );
      }
      deps.save({ ...deps.record(), subscriptions: [...subscriptions] });
      deps.subscriptionsChanged();
      return {};
    };
    server.setRequestHandler("resources/subscribe", (request) => change(request.params.uri, true));
    server.setRequestHandler("resources/unsubscribe", (request) => change(request.params.uri, false));
  }
  return server;
}

/**
 * The level of log messages a 2025-era session asks for until its client sets one: every one. A 2025-era server sends
 * its log messages whether or not a level was set (`logging/setLevel` only adjusts how many, and is optional), while on
 * the hop no level means none.
 */
const LEVEL_BEFORE_SET_LEVEL = "debug";

/** The 2026-07-28 envelope that stands for the session: what the client declared at `initialize`, and its log level. */
export function sessionEnvelope(record: SessionRecord): Record<string, unknown> {
  const client = clientOf(record.initialize);
  return {
    [META.protocolVersion]: HOP_VERSION,
    [META.clientCapabilities]: client.capabilities,
    [META.clientInfo]: client.info,
    [META.logLevel]: record.logLevel ?? LEVEL_BEFORE_SET_LEVEL,
  };
}

/** Input rounds one request may take before the session gives up on it (a loop guard, not a real limit). */
const MAX_INPUT_ROUNDS = 16;

/**
 * One client request, forwarded to the origin. When the origin answers `input_required`, each input request is
 * sent to the client as a real server-to-client request on this request's stream, and the answers go back to
 * the origin in a retry carrying the requestState byte for byte, until the origin's answer is complete.
 */
async function relay(deps: SessionServerDeps, request: JSONRPCRequest, ctx: ServerContext): Promise<Record<string, unknown>> {
  let retry: { inputResponses: Record<string, unknown>; requestState?: unknown } | undefined;
  for (let round = 0; round < MAX_INPUT_ROUNDS; round++) {
    const result = await forwardOnce(deps, request, ctx, retry);
    if (result.resultType !== "input_required") return toLegacyResult(result);
    const withinMs = Math.min(answerWithinOf(result) ?? CLIENT_ANSWER_TIMEOUT_MS, CLIENT_ANSWER_TIMEOUT_MS);
    retry = { inputResponses: await askClient(result.inputRequests, ctx, withinMs), requestState: result.requestState };
  }
  throw new ProtocolError(-32603, `the upstream asked for input more than ${MAX_INPUT_ROUNDS} times in one request`);
}

/**
 * How long a client's answer is waited for when the origin does not say (contract/answer-within.ts): a person may be
 * reading an approval prompt or filling in a form, so as long as any origin may hold the exchange (`inputWaitSeconds`
 * is at most this), not the SDK's 60 seconds. It is also the longest wait an origin's word can ask for.
 */
export const CLIENT_ANSWER_TIMEOUT_MS = MAX_INPUT_WAIT_SECONDS * 1000;

/**
 * Sends each input request to the client (in parallel, as a 2025 server would) and collects the answers by key, each
 * waited for `withinMs`. When one fails (refused, timed out), the others are withdrawn (the SDK tells the client they
 * are cancelled): the round fails whatever they answer. A request the client cancels withdraws them all.
 */
export async function askClient(
  inputRequests: unknown,
  ctx: ServerContext,
  withinMs = CLIENT_ANSWER_TIMEOUT_MS,
): Promise<Record<string, unknown>> {
  const entries = Object.entries((inputRequests ?? {}) as Record<string, { method: string; params?: Record<string, unknown> }>);
  const roundFailed = new AbortController();
  const signal = AbortSignal.any([ctx.mcpReq.signal, roundFailed.signal]);
  const ask = async (method: string, params?: Record<string, unknown>) => {
    try {
      return await ctx.mcpReq.send({ method, params } as never, { timeout: withinMs, signal });
    } catch (error) {
      roundFailed.abort(error);
      throw error;
    }
  };
  const answers = await Promise.all(entries.map(async ([key, { method, params }]) => [key, await ask(method, params)] as const));
  return Object.fromEntries(answers);
}

async function forwardOnce(
  deps: SessionServerDeps,
  request: JSONRPCRequest,
  ctx: ServerContext,
  retry?: { inputResponses: Record<string, unknown>; requestState?: unknown },
): Promise<Record<string, unknown>> {
  const record = deps.record();
  const prefetched = retry ? undefined : deps.prefetched?.(request.id);
  if (prefetched) ctx.mcpReq.signal.addEventListener("abort", () => prefetched.abort(ctx.mcpReq.signal.reason), { once: true });
  try {
    const messages =
      prefetched?.messages ??
      exchangeWithOrigin(
        deps.origin,
        record.identity.server,
        deps.claims(),
        // A retry is a new request (2026-07-28 MRTR): its own id, the original params, the answers and the state.
        { id: retry ? crypto.randomUUID() : request.id, method: request.method, params: forwardedParams(request, record, retry) },
        ctx.mcpReq.signal,
      );
    for await (const message of messages) {
      if (message.method !== undefined) {
        await ctx.mcpReq.notify({ method: message.method, params: message.params } as never);
        continue;
      }
      if (message.error) throw new ProtocolError(message.error.code, message.error.message, message.error.data);
      if (message.result) return message.result;
    }
  } catch (error) {
    if (error instanceof ProtocolError || ctx.mcpReq.signal.aborted) throw error;
    const failure = exchangeFailure(error, record.identity.server);
    if (failure.code === JSON_RPC.upstreamUnavailable) deps.unavailable?.(request.id);
    throw failure;
  }
  if (!ctx.mcpReq.signal.aborted) deps.unavailable?.(request.id);
  throw answerBrokeOff();
}

/** A client request's params as the origin gets them: the session's envelope, and a retry's answers and state. */
export function forwardedParams(
  request: Pick<JSONRPCRequest, "params">,
  record: SessionRecord,
  retry?: { inputResponses: Record<string, unknown>; requestState?: unknown },
): Record<string, unknown> {
  const params: Record<string, unknown> = { ...request.params };
  params._meta = { ...(params._meta as Record<string, unknown> | undefined), ...sessionEnvelope(record) };
  if (retry) {
    params.inputResponses = retry.inputResponses;
    if (retry.requestState !== undefined) params.requestState = retry.requestState;
  }
  return params;
}

/** A failed exchange with the origin as the session's client is told of it (worker/upstream/origin-failure.ts; logged there). */
export function exchangeFailure(error: unknown, server: string): ProtocolError {
  const failure = originFailureOf(error, server);
  return new ProtocolError(failure.code, failure.message, failure.data);
}
export const answerBrokeOff = () =>
  new ProtocolError(JSON_RPC.upstreamUnavailable, "the origin's answer broke off before it was complete; try again");

/** The JSON-RPC code of a call whose session was ended for `sessionsPerUser` (audited `error` with it, docs/audit.md). */
export const SESSION_LIMIT_CODE = -32009;
/**
 * The answer to a call still in flight when its session was ended because its user opened more than `limit`
 * (`sessionsPerUser`) sessions: not "broke off, try again", which in a new session would end another busy one.
 */
export const sessionEndedForLimit = (limit: number) =>
  new ProtocolError(
    SESSION_LIMIT_CODE,
    `this session was ended because its user opened more than sessionsPerUser (${limit}) sessions, and the call's answer is lost; end sessions no longer used, or ask the operator to raise sessionsPerUser`,
  );

/** A 2026-07-28 result as a 2025-era client gets it: without the modern-only fields and the hop's own `_meta` keys. */
export function toLegacyResult(result: Record<string, unknown>): Record<string, unknown> {
  const legacy = { ...result };
  for (const field of MODERN_ONLY_RESULT_FIELDS) delete legacy[field];
  const meta = legacy._meta;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return legacy;
  const kept = Object.fromEntries(Object.entries(meta).filter(([key]) => !HOP_ONLY_META_KEYS.includes(key)));
  if (Object.keys(kept).length === 0) delete legacy._meta;
  else legacy._meta = kept;
  return legacy;
}
