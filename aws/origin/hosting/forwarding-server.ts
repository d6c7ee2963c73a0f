import { setTimeout as delay } from "node:timers/promises";
import { type Client, SdkError, SdkErrorCode, SdkHttpError } from "@modelcontextprotocol/client";
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  INVALID_PARAMS,
  LOG_LEVEL_META_KEY,
  McpServer,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import { relayedCapabilities } from "../../../contract/relayed-capabilities.ts";
import type { GuardrailChain } from "../guardrails/chain.ts";
import { GUARDED_METHODS, type GuardedCall, type GuardedMethod } from "../guardrails/hook.ts";
import type { HostPins } from "../pinning/host-pins.ts";
import { APPROVAL_INPUT_KEY, type ApprovalGate, ApprovalRefused, argumentsHash } from "../policy/approval-gate.ts";
import type { CallLimits } from "../policy/call-limits.ts";
import { requireToolAllowed, type ServerAccess, visibleTools, withheldContents } from "../policy/tool-access.ts";
import { askConsent, CONSENT_INPUT_KEY } from "../upstream-auth/consent.ts";
import type { UpstreamHealth } from "./circuit-breaker.ts";
import { CAPABILITY_OF_ASK, Exchange, type UpstreamAsk } from "./exchange.ts";
import type { ExchangeRegistry } from "./exchange-registry.ts";
import { FORWARDED_METHODS, type ForwardedMethod, isInteractive, isRepeatable } from "./forwarded-methods.ts";
import { type ClientHold, idleTimeout } from "./idle-timeout.ts";
import { type ListedDefinitions, objectField, rememberListed, type UpstreamLists } from "./listed-definitions.ts";
import { keepParamsAsSent, paramsAsSent } from "./params-as-sent.ts";
import type { Progress, ProgressRoutes } from "./progress-routes.ts";
import type { ForwardState, ForwardStateCodec } from "./request-state.ts";
import { sealInputRequired, targetOf } from "./request-state.ts";
import { keepToolResultsAsSent } from "./tool-results-as-sent.ts";
import type { UnansweredWrites } from "./unanswered-writes.ts";
import type { UnreadOutput } from "./unread-output.ts";
import { UpstreamTimeout, upstreamErrorToClient, upstreamUnavailable, worthRetrying } from "./upstream-errors.ts";
import { askUpstreamLinks, isUpstreamLinkKey, refuseDeclinedLinks } from "./url-elicitation.ts";

/**
 * Results pass through untouched: the proxy neither validates nor reshapes what the upstream answers (the origin's
 * client reads any object; its server relays a tool's result as sent, see tool-results-as-sent.ts).
 */
const AnyResult = z.looseObject({});

/** A request being served, as the upstream connection's fan-out of log messages and notices sees it. */
export interface InflightRequest {
  /** Whose request it is. */
  readonly user: string;
  log(params: { level: string; data?: unknown; logger?: string }): void;
  /** The upstream's `notifications/elicitation/complete`: the out-of-band step of a URL elicitation is done. */
  elicitationComplete(params: Params): void;
}

/** Writes a message on this request's own response stream, past the SDK's checks of the 2026-07-28 vocabulary. */
type WriteOnStream = (message: { jsonrpc: "2.0"; method: string; params: Params }) => Promise<void>;

/** Everything a per-request forwarding server needs from the user's upstream connection. */
export interface UpstreamLink {
  client: Client;
  exchanges: ExchangeRegistry;
  stateCodec: ForwardStateCodec;
  /** The upstream's tools, prompts, resources and resource templates as last listed. */
  lists: UpstreamLists;
  inflight: Set<InflightRequest>;
  /** The requests written and not answered: a closing of the connection is blamed on their users. */
  unanswered: UnansweredWrites;
  progress: ProgressRoutes;
  /** Longest wait for an upstream answer without progress. */
  requestTimeoutMs: number;
  /** Pinned definitions as this connection applies them. */
  pins: HostPins;
  /** The server's guardrails (absent: none). */
  guardrails?: GuardrailChain;
  /** Asks users to confirm calls the policy marks `require_approval` (absent: such calls are refused). */
  approvals?: ApprovalGate;
  /** Counts calls against the policy's `limit` rules (absent: such rules limit nothing). */
  callLimits?: CallLimits;
  /** Told whether each request reached the upstream (absent: nobody counts). */
  health?: UpstreamHealth;
  /** A request that may be repeated is sent again after a failure on the way (HTTP upstreams; a stdio child's pipe does not come back). */
  retries: boolean;
  /** Why the connection broke by itself, once it has (absent: the connection does not say). */
  failure?: () => Error | undefined;
}

type Params = Record<string, unknown>;
interface Forwarded {
  method: ForwardedMethod;
  params: Params;
}

/**
 * The server the SDK runs for one 2026-07-28 request from the edge: it looks like the upstream (its name,
 * capabilities and instructions) and answers each forwarded method by asking the upstream. It is an McpServer
 * so that the SDK validates `Mcp-Param-*` headers against the upstream's tool schemas before dispatch.
 */
export function forwardingServer(link: UpstreamLink): McpServer {
  const upstreamCapabilities = link.client.getServerCapabilities() ?? {};
  const mirror = new UpstreamMirror(
    link.pins.serverInfo(link.client.getServerVersion()),
    // Instructions reach the model like a tool's description: withheld with the rest while they wait for approval, and
    // replaced by our own words saying why the server offers nothing (on the aggregated endpoint too).
    {
      instructions: link.pins.withheld
        ? `This server offered nothing when asked: ${link.pins.withheld}. Once an administrator approves it, its tools and prompts are listed (clients are told when the lists change).`
        : link.client.getInstructions(),
      requestState: { verify: link.stateCodec.verify },
    },
    link.lists.tools,
  );
  const capabilities = relayedCapabilities(upstreamCapabilities);
  mirror.server.registerCapabilities(capabilities);
  keepToolResultsAsSent(mirror.server);
  keepParamsAsSent(mirror.server);
  for (const method of Object.keys(FORWARDED_METHODS) as ForwardedMethod[]) {
    if (!capabilities[FORWARDED_METHODS[method].capability]) continue;
    const handler = (request: { params?: Params }, ctx: ServerContext) => {
      const write: WriteOnStream = async (message) => mirror.server.transport?.send(message, { relatedRequestId: ctx.mcpReq.id });
      return forward(link, { method, params: paramsAsSent(ctx, request.params ?? {}) }, ctx, write);
    };
    mirror.server.setRequestHandler(method, handler as never);
  }
  return mirror;
}

class UpstreamMirror extends McpServer {
  readonly #tools: ListedDefinitions;

  constructor(
    info: { name: string; version: string },
    options: ConstructorParameters<typeof McpServer>[1],
    tools: ListedDefinitions,
  ) {
    super(info, options);
    this.#tools = tools;
  }

  /** The upstream's input schema for a tool, so the SDK can check the request's `Mcp-Param-*` headers. */
  override toolInputSchemaJson(name: string): Record<string, unknown> | undefined {
    return objectField(this.#tools.get(name), "inputSchema");
  }
}

async function forward(link: UpstreamLink, request: Forwarded, ctx: ServerContext, write: WriteOnStream): Promise<Params> {
  const guards = link.guardrails && !link.guardrails.empty ? guardedCall(link, request.method, request.params, ctx) : undefined;
  const guarded = isGuarded(request.method) ? guards : undefined;
  // Whatever the request, the upstream's log messages reach it (they go to every request in flight) as a result would.
  const output = roundOutput(ctx, write, guards?.result);
  link.inflight.add(output);
  let admitted: Admitted = {};
  try {
    const access = accessOf(ctx);
    link.pins.requireServer();
    const withheld = withheldContents(access, request.method);
    if (withheld) return withheld;
    // A retry whose user declined to open an upstream's link goes no further, as a 2025 client would not call again.
    refuseDeclinedLinks(ctx, callerOf(ctx).server);
    if (request.method === "tools/call") {
      // A retry whose state is another call's is refused before it spends the budget or answers that call's approval.
      requestStateFor(request, ctx);
      // A call a guardrail refuses is refused before anyone is asked to approve it, and spends no call budget.
      const passed = await guarded?.arguments();
      admitted = await admitToolCall(link, request, ctx, access);
      if (admitted.asking) return admitted.asking;
      if (passed) request.params.arguments = passed;
    }
    if (request.method === "prompts/get") await link.pins.requirePrompt(String(request.params.name), link.lists.prompts);
    if (request.method === "resources/read")
      await link.pins.requireResource(String(request.params.uri), link.lists.resourceTemplates, link.lists.resources);
    if (request.method === "completion/complete") await requireCompletedDefinition(link, request.params.ref);
    const answer = isInteractive(request.method)
      ? await forwardInteractive(link, request, ctx, output, admitted)
      : await call(link, request, ctx, { onProgress: output.progress });
    const result = guarded && answer.resultType !== "input_required" ? await guarded.result(answer) : answer;
    rememberListed(link.lists, request.method, request.params.cursor, result);
    return link.pins.visible(request.method, request.method === "tools/list" ? visibleTools(result, access?.tool) : result);
  } catch (error) {
    // A round the gateway asks itself continues the call as it was admitted: approved once, counted once.
    const round = { t: targetOf(request.method, request.params), ...continuationOf(admitted) };
    // An OAuth-protected upstream that needs this user's (renewed) consent: the user is asked, no one else is affected.
    const consent = await askConsent(error, request.method, ctx, link.stateCodec, round);
    if (consent) return consent;
    const toClient = upstreamErrorToClient(error);
    const passed = guarded ? await guarded.error(toClient) : toClient;
    // The upstream's own -32042 (2025-11-25: open this link first), as the guardrails let it through.
    const links = await askUpstreamLinks(passed, request.method, ctx, link.stateCodec, round);
    if (links) return links;
    throw passed;
  } finally {
    // Everything the upstream sent before its answer reaches the client before the answer does. The SDK may
    // dispatch a log message that preceded the answer on the wire after settling the answer: give it a turn,
    // when the request takes log messages (or elicitation notices) at all (progress has its own routes; see progress-routes.ts).
    if (output.wantsLogs || output.takesCompletions) await new Promise((resolve) => setImmediate(resolve));
    link.inflight.delete(output);
    await output.flushed();
  }
}

/**
 * A completion completes an argument of a prompt or of a resource template: only of one whose definition is approved
 * (a withheld prompt's completions would still reach its upstream, and show what it offers).
 */
async function requireCompletedDefinition(link: UpstreamLink, ref: unknown): Promise<void> {
  const { type, name, uri } = (ref ?? {}) as { type?: unknown; name?: unknown; uri?: unknown };
  if (type === "ref/prompt" && typeof name === "string") await link.pins.requirePrompt(name, link.lists.prompts);
  if (type === "ref/resource" && typeof uri === "string") await link.pins.requireResource(uri, link.lists.resourceTemplates);
}

/** What admitting a tool call decided beyond letting it through. */
interface Admitted {
  /** The approval round to answer with instead of calling. */
  asking?: Params;
  /** The approved arguments' hash, which the call's later rounds must repeat. */
  approvedArguments?: string;
  /** The call counts against the policy's limits: its later rounds carry a nonce that lets each through once for free. */
  counted?: boolean;
}

/**
 * What the policy and the pinned definitions ask of a tool call before it goes upstream: a refusal (thrown), the
 * approval round to answer with, or the go-ahead.
 */
async function admitToolCall(
  link: UpstreamLink,
  request: Forwarded,
  ctx: ServerContext,
  access: ServerAccess | undefined,
): Promise<Admitted> {
  const name = String(request.params.name);
  const definition = await listedTool(link, name, callerOf(ctx).server);
  const { approval, limits = [] } = requireToolAllowed(access?.tool, {
    name,
    annotations: objectField(definition, "annotations"),
  });
  await link.pins.requireTool(definition);
  const counting = limits.length > 0 ? link.callLimits : undefined;
  // A call over its budget is refused before anyone is asked to approve it, and counted once it is let through.
  const budget = counting && !(await continuesCountedCall(counting, ctx)) ? counting : undefined;
  budget?.check(callerOf(ctx).sub, limits);
  const asking = approval && (await askApproval(link, request, ctx, approval));
  if (asking) return { asking };
  budget?.take(callerOf(ctx).sub, limits);
  return {
    // As the client sent them (before any guardrail rewrites them): what its later rounds must repeat.
    approvedArguments: approval && argumentsHash((request.params.arguments ?? {}) as Params),
    counted: counting !== undefined,
  };
}

/**
 * The tool's definition as its upstream lists it, the list read again once for a name it lacks (the tool may be new).
 * A name the upstream does not list never reaches it: a rule denying `delete_repo` must not be passed by calling
 * `Delete_Repo`, which an upstream that matches names without case would run.
 */
async function listedTool(link: UpstreamLink, name: string, server: string): Promise<Params> {
  await link.lists.tools.ensureLoaded();
  if (!link.lists.tools.get(name)) await link.lists.tools.reload();
  const definition = link.lists.tools.get(name);
  if (!definition) throw new ProtocolError(INVALID_PARAMS, `unknown tool "${name}": server "${server}" does not list it`);
  return definition;
}

/** The retry's request state (already verified as this user's), refused when it belongs to another request. */
function requestStateFor(request: Forwarded, ctx: ServerContext): ForwardState | undefined {
  const state = ctx.mcpReq.requestState<ForwardState>();
  if (state && state.t !== targetOf(request.method, request.params)) {
    throw new ProtocolError(-32602, "requestState belongs to another request");
  }
  return state;
}

/**
 * An interactive request, first round or retry. A 2026-07-28 upstream asks for input itself: its result is
 * passed on with its requestState sealed inside ours. A 2025-era upstream asks mid-call: the call is parked
 * in an Exchange and its asks leave as input requests; the retry finds the exchange and hands over the answers.
 */
async function forwardInteractive(
  link: UpstreamLink,
  request: Forwarded,
  ctx: ServerContext,
  output: RoundOutput,
  admitted: Admitted,
): Promise<Params> {
  const target = targetOf(request.method, request.params);
  const state = requestStateFor(request, ctx);
  if (state?.x) return resumeExchange(link, state, target, ctx, output);

  const abort = new AbortController();
  let exchange: Exchange | undefined;
  const upstreamResult = call(link, request, ctx, {
    signal: abort.signal,
    upstreamState: state?.u,
    // Progress of a parked call goes to whichever round now holds it.
    onProgress: (progress) => exchange?.sink?.progress(progress),
    // The upstream asked the client something and waits for its answer: its silence is no fault of its own.
    clientHold: () => ({ waiting: exchange?.waitingOnClient ?? false, answeredAt: exchange?.answeredAt }),
  });
  exchange = new Exchange(request.method, target, upstreamResult, (reason) => abort.abort(new Error(reason)));
  exchange.approvedArguments = admitted.approvedArguments;
  exchange.counted = admitted.counted ?? false;
  link.exchanges.begin(exchange);
  return drive(link, exchange, ctx, output);
}

async function resumeExchange(
  link: UpstreamLink,
  state: ForwardState,
  target: string,
  ctx: ServerContext,
  output: RoundOutput,
): Promise<Params> {
  const exchange = link.exchanges.resume(state.x as string, target, state.n ?? 0);
  if (!exchange) {
    throw new ProtocolError(
      -32602,
      "this input_required exchange is no longer held by the proxy (it expired, was answered already, or the origin instance holding it was replaced); call again",
    );
  }
  exchange.answer(ctx.mcpReq.inputResponses ?? {});
  return drive(link, exchange, ctx, output);
}

/** Waits for the upstream's answer or its next asks, and turns either into this round's result. */
async function drive(link: UpstreamLink, exchange: Exchange, ctx: ServerContext, output: RoundOutput): Promise<Params> {
  exchange.sink = output;
  exchange.clientCapabilities = (ctx.mcpReq.envelope as Params | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as Params | undefined;
  let step: Awaited<ReturnType<Exchange["next"]>>;
  try {
    step = await exchange.next(ctx.mcpReq.signal);
  } catch (error) {
    link.exchanges.end(exchange);
    exchange.abandon("the client cancelled the request");
    throw error;
  }
  if (step.kind === "asks") {
    const missing = missingCapabilities(step.asks, exchange.clientCapabilities);
    if (missing) {
      link.exchanges.end(exchange);
      exchange.abandon("the client lacks a capability the upstream needs");
      throw new MissingRequiredClientCapabilityError({ requiredCapabilities: missing });
    }
    link.exchanges.park(exchange);
    exchange.round++;
    const inputRequests = Object.fromEntries(step.asks.map((ask) => [ask.key, { method: ask.method, params: ask.params }]));
    const state = { t: exchange.target, x: exchange.id, n: exchange.round, g: approvedContinuation(exchange) };
    return sealInputRequired({ resultType: "input_required", inputRequests }, link.stateCodec, state, ctx, link.exchanges.parkMs);
  }
  link.exchanges.end(exchange);
  const result = step.result as Params;
  if (result.resultType !== "input_required") return result;
  const upstreamState = typeof result.requestState === "string" ? result.requestState : undefined;
  return sealInputRequired(result, link.stateCodec, { t: exchange.target, u: upstreamState, ...continuationOf(exchange) }, ctx);
}

/** The mark a later round of an approved call carries: the approved arguments, and a nonce that makes the round single use. */
const approvedContinuation = (call: Pick<Admitted, "approvedArguments">): ForwardState["g"] =>
  call.approvedArguments === undefined ? undefined : { h: call.approvedArguments, n: crypto.randomUUID() };

/** What a later round of an admitted call carries: its approval, and a nonce that lets one round past the limits free. */
const continuationOf = (call: Admitted): Pick<ForwardState, "g" | "l"> => ({
  g: approvedContinuation(call),
  l: call.counted ? crypto.randomUUID() : undefined,
});

/** The capabilities the asks need that the client did not declare, as -32021 reports them; undefined if none. */
function missingCapabilities(asks: UpstreamAsk[], declared: Params | undefined): Record<string, object> | undefined {
  const missing = asks.map((ask) => CAPABILITY_OF_ASK[ask.method]).filter((capability) => capability && !declared?.[capability]);
  return missing.length > 0 ? Object.fromEntries(missing.map((capability) => [capability as string, {}])) : undefined;
}

/**
 * Whether this round continues a call counted already, and so counts nothing: a later round of an exchange the proxy
 * holds (`x`: each of its states resumes the exchange once), or of the upstream's own input request (`u`) whose
 * nonce is unspent. A call counts once however many rounds it takes; a round sent again counts as a new call, since
 * the upstream runs it again.
 */
async function continuesCountedCall(limits: CallLimits, ctx: ServerContext): Promise<boolean> {
  const state = ctx.mcpReq.requestState<ForwardState>();
  return state?.x !== undefined || ((state?.u !== undefined || state?.l !== undefined) && (await limits.continues(state.l)));
}

/** The gateway's own approval round for a call the policy marks require_approval, or undefined once approved. */
function askApproval(link: UpstreamLink, request: Forwarded, ctx: ServerContext, rule: string): Promise<Params | undefined> {
  if (!link.approvals)
    throw new ApprovalRefused(`calling "${String(request.params.name)}" needs approval (${rule}), and this origin asks no one`);
  const caller = callerOf(ctx);
  const call = {
    server: caller.server,
    tool: String(request.params.name),
    args: (request.params.arguments ?? {}) as Params,
    rule,
    user: { sub: caller.sub, email: caller.email, clientId: ctx.http?.authInfo?.clientId },
  };
  return link.approvals.check(ctx, link.stateCodec, targetOf(request.method, request.params), call);
}

const isGuarded = (method: string): method is GuardedMethod => (GUARDED_METHODS as readonly string[]).includes(method);

/**
 * A request as its server's guardrails see it: a tool call's arguments on the way in, a tool call's, a prompt's or a
 * resource's result (or error) on the way out, and any request's log and progress messages.
 */
function guardedCall(link: UpstreamLink, method: ForwardedMethod, params: Params, ctx: ServerContext) {
  const chain = link.guardrails as GuardrailChain;
  const caller = callerOf(ctx);
  const name = String((method === "resources/read" ? params.uri : params.name) ?? "");
  const call: GuardedCall = { server: caller.server, method, name, user: { sub: caller.sub } };
  const args = (params.arguments ?? {}) as Params;
  return {
    arguments: () => chain.arguments(call, args),
    result: (result: Params) => chain.result(call, result),
    /** An upstream's error as the guardrails let it reach the client: its message and data pass as a result would. */
    async error(error: Error): Promise<Error> {
      if (!(error instanceof ProtocolError)) return error;
      const passed = await chain.result(call, { message: error.message, data: error.data });
      if (passed.message === error.message && passed.data === error.data) return error;
      return new ProtocolError(error.code, String(passed.message), passed.data);
    },
  };
}

/** Who calls, and on which server, as the origin's route put them in the request's auth info. */
function callerOf(ctx: ServerContext): { sub: string; email?: string; server: string } {
  const extra = (ctx.http?.authInfo?.extra ?? {}) as { sub?: string; email?: string; server?: string };
  return { sub: extra.sub ?? "", email: extra.email, server: extra.server ?? "" };
}

/** What the caller may do with the server, as the origin's route put it beside the caller's identity. */
const accessOf = (ctx: ServerContext): ServerAccess | undefined => ctx.http?.authInfo?.extra?.access as ServerAccess | undefined;

/** Sends one request upstream, carrying what the client declared and relaying its progress. */
interface CallOptions {
  signal?: AbortSignal;
  upstreamState?: string;
  /** Relays the upstream's progress; false when its client does not keep up (it is dropped unread). */
  onProgress?: (progress: Progress) => boolean | undefined;
  /** While the upstream waits on the client, the idle timeout waits (the client's answer is bounded by the exchange's own deadline). */
  clientHold?: () => ClientHold;
}

async function call(link: UpstreamLink, request: Forwarded, ctx: ServerContext, options: CallOptions = {}): Promise<Params> {
  const { progressToken: clientToken, ...meta } = (ctx.mcpReq._meta ?? {}) as Params;
  const params: Params = { ...request.params, _meta: meta };
  delete params.inputResponses;
  delete params.requestState;
  if (link.client.getProtocolEra() === "modern") {
    // The upstream gates input requests on what the caller declared, not on the proxy's superset.
    params._meta = { ...meta, ...callerEnvelope(ctx) };
    const inputResponses = upstreamAnswers(ctx.mcpReq.inputResponses);
    if (inputResponses) params.inputResponses = inputResponses;
    if (options.upstreamState !== undefined) params.requestState = options.upstreamState;
  }
  const idle = idleTimeout(link.requestTimeoutMs, options.clientHold);
  const deliver = clientToken === undefined ? undefined : options.onProgress;
  const route = deliver
    ? link.progress.open((progress) => {
        // Progress no one reads keeps nothing alive: else a client that stops reading holds the call open for ever.
        if (deliver(progress) !== false) idle.reset();
      })
    : undefined;
  if (route) params._meta = { ...(params._meta as Params), progressToken: route.token };
  // An interactive call outlives the round that started it (it is parked between rounds): its own signal governs it.
  const signal = AbortSignal.any([options.signal ?? ctx.mcpReq.signal, idle.signal]);
  try {
    const repeatable = link.retries && mayRepeat(link, request);
    return await send(link, { method: request.method, params }, signal, repeatable, callerOf(ctx).sub);
  } catch (error) {
    throw idle.signal.aborted ? idle.signal.reason : error;
  } finally {
    idle.clear();
    // Progress sent just before the answer is dispatched by the SDK after it: keep the route open one more turn.
    if (route) setImmediate(() => route.close());
  }
}

/**
 * Sends one message and tells the connection's circuit breaker how it went. A request that may be repeated is sent
 * once more, after a moment, when the first attempt failed on the way (a dropped connection, a 502/503/504 from a
 * server restarting behind its own balancer); never one that could act twice.
 */
async function send(
  link: UpstreamLink,
  message: { method: string; params: Params },
  signal: AbortSignal,
  repeatable: boolean,
  user: string,
): Promise<Params> {
  for (let attempt = 1; ; attempt++) {
    const answered = link.unanswered.wrote(user);
    try {
      const answer = (await link.client.request(message, AnyResult, {
        signal,
        timeout: NO_SDK_TIMEOUT,
        allowInputRequired: true,
      })) as Params;
      answered();
      link.health?.succeeded(user);
      return answer;
    } catch (caught) {
      const error = closedConnectionError(link, caught);
      // The upstream's own error is an answer; a cancellation or a timeout leaves the request with the upstream.
      if (!signal.aborted && !upstreamUnavailable(error)) answered();
      if (repeatable && attempt < ATTEMPTS && !signal.aborted && worthRetrying(error)) {
        // Cut short by a cancellation, the next attempt fails at once as cancelled.
        await delay(RETRY_PAUSE_MS, undefined, { signal }).catch(() => {});
        continue;
      }
      report(link, error, signal, user);
      throw error;
    }
  }
}

/**
 * A request whose connection is gone failed because it is gone, whatever the SDK rejected it with (a call parked in
 * an exchange is aborted with the closing's reason, which the SDK reports as a timeout): told why when the transport
 * knows (a message over the bound, a child that exited), else that the connection closed.
 */
function closedConnectionError(link: UpstreamLink, error: unknown): unknown {
  if (link.client.transport !== undefined) return error;
  const failure = link.failure?.();
  if (failure) return failure;
  return error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout
    ? new SdkError(SdkErrorCode.ConnectionClosed, "Connection closed")
    : error;
}

/**
 * Tells the circuit breaker how a failed request went: the upstream was not there (its connection closed, it stayed
 * silent, it could not be reached), or it answered (an error it sends is an answer all the same). A cancellation
 * (the client went away) says nothing either way. Whether the request alone failed or its connection did is said too:
 * on a shared connection only the latter is every user's concern.
 */
function report(link: UpstreamLink, error: unknown, signal: AbortSignal, user: string): void {
  // The connection's close also abandons the calls parked on it, so it comes first: the upstream is gone. One
  // closing is one failure however many calls it ended (its client object names it, one per connection), blamed on
  // every user with a request written and not answered: the input that made the child exit is among them, whoever's
  // it was, also when its user cancelled the call before the exit.
  if (link.client.transport === undefined) {
    link.health?.failed(
      upstreamUnavailable(error) ? upstreamErrorToClient(error).message : "the upstream server closed the connection",
      { user, scope: "closed", closing: link.client, suspects: [...new Set([user, ...link.unanswered.users()])] },
    );
    return;
  }
  if (signal.aborted && !(signal.reason instanceof UpstreamTimeout)) return;
  const failure = signal.aborted ? signal.reason : error;
  const scope = failedAlone(failure) ? "request" : "connection";
  if (upstreamUnavailable(failure)) link.health?.failed(upstreamErrorToClient(failure).message, { user, scope });
  else link.health?.succeeded(user);
}

/**
 * A failure of one request on a connection still open: it timed out, or an HTTP upstream answered it with an error
 * status. What the upstream does for one request's input (a slow search, a tarpit URL) says nothing of the others'.
 */
const failedAlone = (error: unknown) =>
  error instanceof UpstreamTimeout ||
  error instanceof SdkHttpError ||
  (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout);

/** Attempts of a request that may be repeated, and the pause between them. */
const ATTEMPTS = 2;
const RETRY_PAUSE_MS = 200;

/** Reads, and tools whose server marks them read-only or idempotent: what may be sent twice without acting twice. */
function mayRepeat(link: UpstreamLink, request: Forwarded): boolean {
  const annotations =
    request.method === "tools/call" ? objectField(link.lists.tools.get(String(request.params.name)), "annotations") : undefined;
  return isRepeatable(request.method, annotations);
}

/** The client's answers meant for the upstream: the gateway's own answers (approval, consent, links) stay here. */
function upstreamAnswers(answers: Params | undefined): Params | undefined {
  const gateways = (key: string) => GATEWAY_INPUT_KEYS.includes(key) || isUpstreamLinkKey(key);
  if (!answers || !Object.keys(answers).some(gateways)) return answers;
  const rest = Object.fromEntries(Object.entries(answers).filter(([key]) => !gateways(key)));
  return Object.keys(rest).length > 0 ? rest : undefined;
}

const GATEWAY_INPUT_KEYS = [APPROVAL_INPUT_KEY, CONSENT_INPUT_KEY];

/** The SDK's own request timeout is replaced by the idle timeout below, which progress resets. */
const NO_SDK_TIMEOUT = 2 ** 31 - 1;

/** The caller's own declarations from its request envelope, for a 2026-07-28 upstream. */
function callerEnvelope(ctx: ServerContext): Params {
  const envelope = (ctx.mcpReq.envelope ?? {}) as Params;
  const keys = [CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, LOG_LEVEL_META_KEY];
  return Object.fromEntries(keys.filter((key) => envelope[key] !== undefined).map((key) => [key, envelope[key]]));
}

/** What one round sends the client besides its answer: the upstream's progress and log messages, in order. */
interface RoundOutput extends InflightRequest {
  /** Queues the upstream's progress for the client; false when the client has stopped reading (see UnreadOutput). */
  progress(params: Progress): boolean;
  flushed(): Promise<void>;
  /** The request set a log level: without one, the SDK sends it no log message. */
  wantsLogs: boolean;
  /** The upstream's `notifications/elicitation/complete` reaches this request's client. */
  takesCompletions: boolean;
}

/**
 * The round's output, each message passed through `guard` (the request's guardrails' result hooks) on its way: what
 * an upstream says while it works reaches the client as its result would. A message a hook refuses is not sent.
 */
function roundOutput(
  ctx: ServerContext,
  write: WriteOnStream,
  guard: (params: Params) => Promise<Params> = async (params) => params,
): RoundOutput {
  const progressToken = (ctx.mcpReq._meta as Params | undefined)?.progressToken;
  const asked = (ctx.mcpReq.envelope as Params | undefined)?.[LOG_LEVEL_META_KEY];
  const wantsLogs = asked !== undefined;
  const takesCompletions = takesElicitationComplete(ctx);
  // What the client has not read yet of this response bounds what more is queued in it (absent: a caller that reads it at once).
  const unread = ctx.http?.authInfo?.extra?.unread as UnreadOutput | undefined;
  let sent = Promise.resolve();
  const send = (deliver: () => Promise<void>) => {
    sent = sent.then(deliver).catch(() => {});
  };
  return {
    user: callerOf(ctx).sub,
    progress(params) {
      if (progressToken === undefined) return true;
      send(async () => {
        const passed = await guard({ ...params });
        if (unread && !unread.admit(passed)) return;
        await ctx.mcpReq.notify({ method: "notifications/progress", params: { ...passed, progressToken } } as never);
      });
      return !unread?.behind;
    },
    // The SDK drops messages below the level the request asked for (and all of them if it asked for none): one for a
    // request that asked for none is not even guarded.
    log({ level, data, logger }) {
      // Below the asked level the SDK would drop it unsent: it must not count as queued either.
      if (!wantsLogs || belowLevel(level, asked)) return;
      send(async () => {
        const passed = await guard({ data, ...(logger !== undefined && { logger }) });
        if (unread && !unread.admit(passed)) return;
        await ctx.mcpReq.log(level as never, passed.data, passed.logger as string | undefined);
      });
    },
    // Written as the upstream sent it (an elicitation id, which no hook has anything to redact in): the SDK's server
    // would refuse it on the 2026-07-28 hop, whose revision dropped it.
    elicitationComplete(params) {
      if (!takesCompletions) return;
      send(async () => {
        if (unread && !unread.admit(params)) return;
        await write({ jsonrpc: "2.0", method: "notifications/elicitation/complete", params });
      });
    },
    flushed: () => sent,
    wantsLogs,
    takesCompletions,
  };
}

/**
 * Whether the request's client takes `notifications/elicitation/complete`: a 2025-era client (its session object
 * relays it) that declared URL-mode elicitation, as the upstream would check. 2026-07-28 has no such notification:
 * its clients call again when the user says the link is done.
 */
function takesElicitationComplete(ctx: ServerContext): boolean {
  const capabilities = (ctx.mcpReq.envelope as Params | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as
    | { elicitation?: { url?: unknown } }
    | undefined;
  return ctx.http?.authInfo?.extra?.era === "legacy" && capabilities?.elicitation?.url !== undefined;
}

/** The log levels of MCP (RFC 5424's), least severe first. */
const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/** Whether a message's level is below the one the request asked for (both known levels). */
function belowLevel(level: string, asked: unknown): boolean {
  const index = LOG_LEVELS.indexOf(level);
  const threshold = typeof asked === "string" ? LOG_LEVELS.indexOf(asked) : -1;
  return index !== -1 && threshold !== -1 && index < threshold;
}
