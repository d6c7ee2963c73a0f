import type { ChildProcess } from "node:child_process";
import type { Client, Transport } from "@modelcontextprotocol/client";
import { createMcpHandler, INVALID_PARAMS, type McpHttpHandler } from "@modelcontextprotocol/server";
import { LISTENS_PER_CONNECTION, type UpstreamServer } from "../../../contract/config/schema.ts";
import type { GuardrailChain } from "../guardrails/chain.ts";
import type { UpstreamIdentity } from "../identity/upstream-identity.ts";
import type { DefinitionPins } from "../pinning/definition-pins.ts";
import { HostPins } from "../pinning/host-pins.ts";
import type { ApprovalGate } from "../policy/approval-gate.ts";
import type { CallLimits } from "../policy/call-limits.ts";
import { listenWithinContents, type ServerAccess } from "../policy/tool-access.ts";
import type { SecretsProvider } from "../secrets/provider.ts";
import { readValues } from "../secrets/read-values.ts";
import { oauthHost } from "../upstream-auth/oauth-host.ts";
import { upstreamTokenFetch } from "../upstream-auth/token-fetch.ts";
import type { UpstreamOAuth } from "../upstream-auth/upstream-oauth.ts";
import { googleCredentialsHost, type InjectedCredentials } from "../upstream-credentials/google-credentials-host.ts";
import type { GoogleUserTokens } from "../upstream-credentials/google-user-tokens.ts";
import { authInfoOf } from "./caller-auth-info.ts";
import type { ChildUsers } from "./child-users.ts";
import type { UpstreamHealth } from "./circuit-breaker.ts";
import { connectDeadline, DEFAULT_CONNECT_TIMEOUT_MS } from "./connect-deadline.ts";
import { UnsupportedAsk } from "./exchange.ts";
import { ExchangeRegistry } from "./exchange-registry.ts";
import { forwardingServer, type InflightRequest, type UpstreamLink } from "./forwarding-server.ts";
import { forgetChanged, type UpstreamLists, upstreamLists } from "./listed-definitions.ts";
import { ELICITATION_COMPLETE, takesElicitationCompleteOnListen, withExtraEvents } from "./listen-notices.ts";
import { refusedListen } from "./listen-refusal.ts";
import { parseRequestBody } from "./parsed-request.ts";
import { ProgressRoutes } from "./progress-routes.ts";
import type { CallerExtra, ForwardStateCodec } from "./request-state.ts";
import { UnansweredWrites } from "./unanswered-writes.ts";
import { UnreadOutput } from "./unread-output.ts";
import { connectUpstream } from "./upstream-client.ts";
import { UpstreamEvents } from "./upstream-events.ts";
import { type ChildObserver, openTransport, type UpstreamCredentials } from "./upstream-transport.ts";

/** The caller of one request, as the edge assertion names it. */
export interface Caller extends CallerExtra {
  clientId: string;
  /** The era of the MCP client behind the request (its session object at the edge speaks 2026-07-28 for it). */
  era: "modern" | "legacy";
  email?: string;
  groups?: string[];
  /** What the policy lets this caller do with the server: its tools, its prompts and resources (absent: everything). */
  access?: ServerAccess;
  /**
   * The request comes from the aggregated endpoint `/mcp`, which offers a missing upstream consent as its own
   * `connect_account` tool: its lists need no consent link, and so begin no authorization.
   */
  aggregated?: boolean;
}

/** One user's upstream: the connection to it, and the 2026-07-28 endpoint the edge reaches it through. */
export interface UpstreamHost {
  /** Serves one request from the edge (2026-07-28, stateless). */
  fetch(request: Request, caller: Caller): Promise<Response>;
  /** The child's process id, for a stdio upstream (for operators and tests). */
  pid: number | null;
  /** The era the upstream negotiated. */
  era: "modern" | "legacy";
  /** Requests in flight; a host is never reaped while this is above zero. */
  active: number;
  /**
   * Calls parked until the client's retry brings its answers (an approval prompt, a form the user is filling in):
   * a host holding any is never reaped for idleness, and is evicted only when no other idle host can make room.
   */
  awaitingClient(): number;
  lastUsed: number;
  closed: Promise<void>;
  close(): Promise<void>;
}

export interface HostOptions {
  stateCodec: ForwardStateCodec;
  /** Signs the user's identity for HTTP upstreams. */
  identity: UpstreamIdentity;
  /** Where configured upstream credentials are read. */
  secrets: SecretsProvider;
  /** Longest wait for an upstream answer without progress. */
  requestTimeoutMs: number;
  /** Longest wait for a new upstream connection's MCP handshake (30 s when unset). */
  connectTimeoutMs?: number;
  /** How long a call that asked the client for input waits for the client's retry. */
  inputWaitMs: number;
  /** SSE keep-alive comments on long responses (0 disables). */
  keepAliveMs: number;
  /** The largest message read from an upstream: an HTTP body, an SSE event, a stdio line (10 MiB when unset). */
  maxMessageBytes?: number;
  log: (line: string) => void;
  /** Told of a stdio child's spawn and exit. */
  children?: ChildObserver;
  /** Unix users to run stdio children as (`stdio.childUids`; absent: the origin's own user). */
  childUsers?: ChildUsers;
  /** Told whether each request reached the upstream (its circuit breaker; absent: nobody counts). */
  health?: UpstreamHealth;
  /** Pinned definitions (absent: nothing is pinned). */
  pins?: DefinitionPins;
  /** Each server's guardrails (absent: none). */
  guardrailsOf?: (server: string) => GuardrailChain | undefined;
  /** Asks users to confirm the calls the policy marks `require_approval`. */
  approvals?: ApprovalGate;
  /** Counts users' calls against the policy's `limit` rules (one per origin instance, shared by every server). */
  callLimits?: CallLimits;
  /**
   * The connection serves every user (`sharing: "shared"`). The upstream's log messages and a 2025-era upstream's
   * mid-call questions name no request, so they cannot be told apart by user: none is relayed.
   */
  shared?: boolean;
  /** Each user's OAuth client toward servers configured with `oauth` (absent: such servers get no token). */
  upstreamOAuth?: UpstreamOAuth;
  /** Users' Google tokens for servers configured with `googleCredentials` (absent: such servers cannot start). */
  googleTokens?: GoogleUserTokens;
  /**
   * Aborted when the origin stops (the pool closes): a connection still in its handshake is given up at once rather
   * than waited on for up to `connectTimeoutMs`, and its stdio child has exited before the start fails.
   */
  stopping?: AbortSignal;
}

/** Why a start was given up: the origin stops (a request still waiting on it is answered 503). */
export class OriginStopping extends Error {
  constructor() {
    super("the origin is stopping");
    this.name = "OriginStopping";
  }
}

/** Connects to the upstream (negotiating its era) and puts the forwarding endpoint in front of it. */
export async function startUpstreamHost(spec: UpstreamServer, options: HostOptions, firstCaller: Caller): Promise<UpstreamHost> {
  const oauth = options.upstreamOAuth;
  const google = spec.googleCredentials;
  if (google)
    return googleCredentialsHost({
      credentials: google,
      caller: firstCaller,
      tokens: options.googleTokens,
      connect: (injected) => connectHost(spec, options, firstCaller, injected),
    });
  if (spec.transport !== "http" || !spec.oauth || !oauth) return connectHost(spec, options, firstCaller);
  // An OAuth-protected upstream refuses even the handshake until the user has consented: connected on first need.
  return oauthHost({
    connect: () => connectHost(spec, options, firstCaller),
    hasToken: async (owner) => (await oauth.accessToken(owner, spec)) !== undefined,
    stateCodec: options.stateCodec,
  });
}

async function connectHost(
  spec: UpstreamServer,
  options: HostOptions,
  firstCaller: Caller,
  injected: InjectedCredentials = {},
): Promise<UpstreamHost> {
  // The connection speaks for whoever called last: its one user (a shared connection carries no identity; the
  // configuration refuses one).
  let latestCaller = firstCaller;
  const credentials = await credentialsOf(spec, options, injected, () => latestCaller);
  const user = spec.transport === "stdio" ? await options.childUsers?.take() : undefined;
  // Given back once; whoever asks again waits for that one giving (its processes killed, its home gone).
  let giving: Promise<void> | undefined;
  const giveUser = () => {
    giving ??= user ? (options.childUsers?.give(user) ?? Promise.resolve()) : Promise.resolve();
    return giving;
  };
  if (options.stopping?.aborted) {
    await giveUser();
    throw new OriginStopping();
  }
  const opened = openTransport(spec, credentials, options.log, options.children, user, options.maxMessageBytes);
  const { transport } = opened;
  const childExited = spec.transport === "stdio" ? childExitOf(transport) : async () => {};
  const inflight = new Set<InflightRequest>();
  /** Open listens of 2025-era clients that take the upstream's elicitation/complete between calls. */
  const noticed = new Set<(params: Record<string, unknown>) => void>();
  const exchanges = new ExchangeRegistry(options.inputWaitMs);
  const progress = new ProgressRoutes();
  let events: UpstreamEvents | undefined;
  let lists: UpstreamLists | undefined;
  const deadline = connectDeadline(spec, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  const signal = options.stopping ? AbortSignal.any([deadline.signal, options.stopping]) : deadline.signal;
  const connecting = connectUpstream(
    transport,
    firstCaller.era,
    { ...deadline, signal },
    {
      ask: (method, params) => {
        // A question no client request can carry (on a connection every user shares; or between calls, right after
        // the handshake, say): the upstream hears what a client without that capability would say, which servers
        // handle, not an internal error.
        if (options.shared)
          return Promise.reject(new UnsupportedAsk(`a shared upstream (sharing: "shared") cannot send ${method}`));
        const exchange = exchanges.current();
        if (!exchange)
          return Promise.reject(new UnsupportedAsk(`no client request is in progress through the proxy to carry ${method}`));
        return exchange.ask(method, params);
      },
      log: (params) => {
        if (options.shared) return;
        for (const request of inflight) request.log(params);
      },
      elicitationComplete: (params) => {
        if (options.shared) return;
        // Once for each client where it can: on the GET streams its clients keep open for what comes unasked, else on
        // the requests in flight (of clients without one).
        if (noticed.size > 0) for (const listen of noticed) listen(params);
        else for (const request of inflight) request.elicitationComplete(params);
      },
      progress: (params) => progress.deliver(params),
      event: (method, params) => {
        if (lists) forgetChanged(lists, method);
        events?.fromUpstream(method, params);
      },
    },
  );
  // A child that never connected has exited, and given its Unix user back, before its start fails; one that did
  // connect gives it back when its connection closes.
  const client: Client = await givenUpOnStop(connecting, transport, options.stopping).catch(async (error: unknown) => {
    await transport.close().catch(() => {});
    await childExited();
    await giveUser();
    if (options.stopping?.aborted) throw new OriginStopping();
    throw deadline.signal.aborted ? deadline.failure() : error;
  });
  events = new UpstreamEvents(client, options.log);
  lists = upstreamLists(client, options.requestTimeoutMs);

  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  // Set before anything else is awaited, so that a child exiting while the host is still being made gives its Unix
  // user back. What exists by then is undone with it: the pins' subscription, the streams (set once the handler exists).
  let pins: Awaited<ReturnType<typeof pinsFor>> | undefined;
  let endStreams = () => {};
  let connectionClosed = false;
  client.onclose = () => {
    connectionClosed = true;
    void giveUser();
    exchanges.closeAll("the upstream server's connection closed");
    pins?.unsubscribe();
    endStreams();
    markClosed();
  };
  // A child that exited during the handshake's last steps (the SDK drops a closed connection's transport) closed unseen.
  if (!client.transport) client.onclose();
  pins = await pinsFor(options.pins, firstCaller.server, client, events).catch(async (error: unknown) => {
    await client.close().catch(() => {});
    await giveUser();
    throw error;
  });
  if (connectionClosed) {
    pins.unsubscribe();
    await giveUser();
    throw new Error("the upstream server's connection closed while it was being started");
  }

  const link: UpstreamLink = {
    client,
    exchanges,
    stateCodec: options.stateCodec,
    lists,
    inflight,
    unanswered: new UnansweredWrites(options.requestTimeoutMs),
    progress,
    requestTimeoutMs: options.requestTimeoutMs,
    pins: pins.host,
    guardrails: options.guardrailsOf?.(firstCaller.server),
    approvals: options.approvals,
    callLimits: options.callLimits,
    health: options.health,
    retries: spec.transport === "http",
    failure: opened.failure,
  };
  const upstreamEvents = events;
  const handler: McpHttpHandler = createMcpHandler(() => forwardingServer(link), {
    // The edge terminates 2025-era clients in their session objects: the hop speaks 2026-07-28 only.
    legacy: "reject",
    bus: upstreamEvents,
    keepAliveMs: options.keepAliveMs,
    // Each user's listens are bounded before they reach the handler (mcp-route.ts); this bounds them all together.
    maxSubscriptions: LISTENS_PER_CONNECTION,
  });
  // A listen stream ends, and its client listens again (reaching a new connection), rather than wait on a dead one.
  // Calls in flight are let finish first: each answers its client with the error that says the connection closed.
  endStreams = () => void closeWhenCallsEnd(inflight, handler);

  return servingHost({
    pid: () => opened.pid ?? null,
    era: client.getProtocolEra() ?? "legacy",
    closed,
    handler,
    events: upstreamEvents,
    exchanges,
    noticed,
    onCaller: (caller) => {
      latestCaller = caller;
    },
    log: options.log,
    close: async () => {
      exchanges.closeAll("the origin is stopping this upstream");
      upstreamEvents.close();
      await handler.close();
      await client.close();
      await closed;
    },
  });
}

/**
 * The handshake, given up when the origin stops: closing the transport ends it at any step (the SDK's era probe on
 * its throwaway sibling process, which it then reaps, does not watch the handshake's signal).
 */
async function givenUpOnStop<T>(connecting: Promise<T>, transport: Transport, stopping: AbortSignal | undefined): Promise<T> {
  if (!stopping) return connecting;
  const giveUp = () => void transport.close().catch(() => {});
  stopping.addEventListener("abort", giveUp, { once: true });
  try {
    return await connecting;
  } finally {
    stopping.removeEventListener("abort", giveUp);
  }
}

/**
 * Waits for a stdio transport's child to exit, once spawned: the SDK's close escalates to SIGKILL but returns
 * without waiting for the exit, and a failed start must leave no child behind (nor a stopping origin one running).
 */
function childExitOf(transport: Transport): () => Promise<void> {
  let child: ChildProcess | undefined;
  const start = transport.start.bind(transport);
  transport.start = async () => {
    await start();
    child = (transport as unknown as { _process?: ChildProcess })._process;
  };
  return async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise((resolve) => running.once("exit", resolve));
  };
}

/**
 * What the upstream is called with on the caller's behalf: their identity (for HTTP upstreams that verify it), the
 * configured secrets, and their own OAuth token for servers configured with `oauth`, or injected Google credentials.
 */
async function credentialsOf(
  spec: UpstreamServer,
  options: HostOptions,
  injected: InjectedCredentials,
  caller: () => Caller,
): Promise<UpstreamCredentials> {
  const user = () => ({ sub: caller().sub, email: caller().email, groups: caller().groups });
  const owner = () => ({ sub: caller().sub, email: caller().email, server: caller().server });
  const send =
    spec.transport === "http" && spec.oauth && options.upstreamOAuth
      ? upstreamTokenFetch(options.upstreamOAuth, owner, spec)
      : undefined;
  // A child's environment is read once, at its start: the pool replaces a child whose secrets were rotated since.
  const env = spec.transport === "stdio" ? { ...(await readValues(spec.env, options.secrets)), ...injected.env } : undefined;
  return { identity: options.identity, secrets: options.secrets, user, send: injected.send ?? send, env };
}

/** The host's face to the pool: each request from the edge goes to the connection's 2026-07-28 handler. */
function servingHost(parts: {
  pid: () => number | null;
  era: "modern" | "legacy";
  closed: Promise<void>;
  handler: McpHttpHandler;
  events: UpstreamEvents;
  exchanges: ExchangeRegistry;
  noticed: Set<(params: Record<string, unknown>) => void>;
  onCaller: (caller: Caller) => void;
  log: (line: string) => void;
  close: () => Promise<void>;
}): UpstreamHost {
  return {
    get pid() {
      return parts.pid();
    },
    era: parts.era,
    active: 0,
    awaitingClient: () => parts.exchanges.awaitingClient(),
    lastUsed: Date.now(),
    closed: parts.closed,
    async fetch(request, caller) {
      parts.onCaller(caller);
      const unread = new UnreadOutput(parts.log);
      const authInfo = authInfoOf(caller);
      authInfo.extra = { ...authInfo.extra, unread };
      const parsed = await parseRequestBody(request);
      const parsedBody = listenWithinContents(parsed.parsedBody, caller.access);
      const unwatch = watchListenedResources(parsedBody, parts.events, caller.sub);
      if (typeof unwatch === "string") return refusedListen(parsedBody, INVALID_PARAMS, unwatch, 400);
      let response = unread.measure(await parts.handler.fetch(parsed.request, { authInfo, parsedBody }));
      if (takesElicitationCompleteOnListen(parsedBody, caller)) response = withElicitationComplete(response, parts.noticed);
      return unwatch ? onBodyEnd(response, unwatch) : response;
    },
    close: parts.close,
  };
}

/** A listen that also brings the upstream's elicitation/complete, for as long as it is open. */
function withElicitationComplete(response: Response, noticed: Set<(params: Record<string, unknown>) => void>): Response {
  const extra = withExtraEvents(response);
  const notice = (params: Record<string, unknown>) => extra.write({ jsonrpc: "2.0", method: ELICITATION_COMPLETE, params });
  noticed.add(notice);
  return onBodyEnd(extra.response, () => noticed.delete(notice));
}

/**
 * The connection's view of the pinned definitions: its discovery result checked now, and its clients told to list
 * again whenever an administrator's decision changes what they may see.
 */
async function pinsFor(pins: DefinitionPins | undefined, server: string, client: Client, events: UpstreamEvents) {
  const host = new HostPins(pins, server);
  const discovery = {
    capabilities: client.getServerCapabilities(),
    instructions: client.getInstructions(),
    serverInfo: client.getServerVersion(),
  };
  await host.checkDiscovery(discovery);
  const unsubscribe =
    pins?.subscribe(server, () => {
      void host.checkDiscovery(discovery).then(() => {
        for (const method of LIST_CHANGES) events.fromUpstream(method, undefined);
      });
    }) ?? (() => {});
  return { host, unsubscribe };
}

const LIST_CHANGES = [
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/resources/list_changed",
] as const;

/**
 * A `subscriptions/listen` that watches resources: the upstream must be told to watch them while the stream lives.
 * A string: why the listen may not watch them (too much watched already), which refuses it.
 */
function watchListenedResources(body: unknown, events: UpstreamEvents, user: string): (() => void) | string | undefined {
  const message = body as { method?: unknown; params?: { notifications?: { resourceSubscriptions?: unknown } } } | undefined;
  const uris = message?.method === "subscriptions/listen" ? message.params?.notifications?.resourceSubscriptions : undefined;
  if (!Array.isArray(uris) || uris.length === 0) return undefined;
  return events.watch(
    uris.filter((uri): uri is string => typeof uri === "string"),
    user,
  );
}

/** How long a lost connection's handler waits for its calls in flight to answer before closing what is left. */
const CALLS_END_WAIT_MS = 5_000;

async function closeWhenCallsEnd(inflight: ReadonlySet<unknown>, handler: McpHttpHandler): Promise<void> {
  const until = Date.now() + CALLS_END_WAIT_MS;
  const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
  while (inflight.size > 0 && Date.now() < until) await pause();
  await pause(); // the last call's error is written after it leaves the set
  await handler.close().catch(() => {});
}

/** Calls `done` once the response body has been read to its end or cancelled. */
export function onBodyEnd(response: Response, done: () => void): Response {
  if (!response.body) {
    done();
    return response;
  }
  const reader = response.body.getReader();
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done();
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done: ended, value } = await reader.read().catch((error: unknown) => {
        finish();
        throw error;
      });
      if (ended) {
        finish();
        controller.close();
      } else controller.enqueue(value);
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
  return new Response(body, response);
}
