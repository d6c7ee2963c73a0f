import { EventSourceParserStream } from "eventsource-parser/stream";
import { ANSWER_OUTCOME_HEADER, ANSWER_ROUTE_HEADER } from "../../../contract/answer-outcome.ts";
import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { type EdgeAssertionClaims, originMcpPath } from "../../../contract/edge-assertion.ts";
import { edgeConfig } from "../../config.ts";
import type { EdgeEnv } from "../../env.ts";
import { readLimited } from "../../http/read-limited.ts";
import { type OriginAffinityStore, originAffinity } from "../../upstream/affinity.ts";
import { fetchOrigin } from "../../upstream/fetch-origin.ts";
import { JSON_RPC } from "../json-rpc-error.ts";

/** The protocol revision of the edge-origin hop: always 2026-07-28, stateless. */
export const HOP_VERSION = "2026-07-28";

export const META = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  logLevel: "io.modelcontextprotocol/logLevel",
  serverInfo: "io.modelcontextprotocol/serverInfo",
} as const;

export type JsonRpcMessage = {
  jsonrpc: "2.0";
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
};

/**
 * The largest message of the origin's answer a session reads (a whole JSON body, or one SSE event; a stream may go on
 * for long). The origin relays an upstream's message of up to relay.maxUpstreamMessageMiB (10 MiB by default): 16 MiB
 * leaves room for the envelope and escaping it adds, while one message, its text and its parsed form (several times
 * its size together) still fit the 128 MiB of a session object's isolate, which holds every session of its user.
 * An origin that lets upstreams send larger messages is answered with an error the session's client can read.
 */
export const MAX_ORIGIN_MESSAGE_BYTES = 16 * 1024 * 1024;

/** How a session reaches the origin: the edge's configuration and the users' instance affinity. */
export interface OriginLink {
  config: EdgeConfig;
  affinity: OriginAffinityStore;
}

export const originLinkOf = (env: EdgeEnv): OriginLink => ({ config: edgeConfig(env), affinity: originAffinity(env) });

/** One 2026-07-28 request to the origin on behalf of a session's user. */
export interface HopRequest {
  id: string | number;
  method: string;
  params: Record<string, unknown>;
}

/**
 * What the origin's answer said of itself in headers, for the edge's audit (never relayed): its outcome (only on a JSON
 * answer, which the origin held whole) and, on `/mcp`, where it routed the request (contract/answer-outcome.ts).
 */
export interface OriginLabels {
  outcome?: string;
  route?: string;
}

/** A header value per 2026-07-28: plain if it is ASCII, else the `=?base64?…?=` form. */
function headerValue(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  const bytes = new TextEncoder().encode(value);
  return `=?base64?${btoa(String.fromCharCode(...bytes))}?=`;
}

/**
 * Sends one request to the origin and yields every JSON-RPC message of its answer, in order: the notifications
 * it streams first, then the response. The origin answers with one JSON body or an SSE stream; both arrive here
 * as the same sequence. A stream that ends without the response ends the iteration without it. `labels`, when given,
 * receives the answer's labels before its first message.
 */
export async function* exchangeWithOrigin(
  link: OriginLink,
  server: string,
  claims: EdgeAssertionClaims,
  request: HopRequest,
  signal: AbortSignal,
  labels?: OriginLabels,
): AsyncGenerator<JsonRpcMessage> {
  const name = request.params.name ?? request.params.uri;
  const headers = new Headers({
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": HOP_VERSION,
    "mcp-method": request.method,
  });
  if (typeof name === "string") headers.set("mcp-name", headerValue(name));
  const response = await fetchOrigin(
    link.config,
    originMcpPath(server),
    claims,
    {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: request.id, method: request.method, params: request.params }),
      signal,
    },
    link.affinity,
  );
  if (!response.body) return;
  const json = !response.headers.get("content-type")?.includes("text/event-stream");
  if (labels) {
    labels.route = response.headers.get(ANSWER_ROUTE_HEADER) ?? undefined;
    labels.outcome = (json && response.headers.get(ANSWER_OUTCOME_HEADER)) || undefined;
  }
  if (json) {
    const bytes = await readLimited(response, MAX_ORIGIN_MESSAGE_BYTES);
    if (bytes === null) {
      // The client gets the session's own error, not the answer the origin labelled.
      if (labels) labels.outcome = undefined;
      yield tooLarge(request.id, server);
    } else if (bytes.byteLength > 0) yield jsonRpcOf(new TextDecoder().decode(bytes), request.id, response.status);
    return;
  }
  const bounded = response.body.pipeThrough(eventsWithin(MAX_ORIGIN_MESSAGE_BYTES));
  const events = bounded.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  try {
    for await (const event of events) {
      if (!event.data) continue;
      yield jsonRpcOf(event.data, request.id, response.status);
    }
  } catch (error) {
    if (!(error instanceof AnswerTooLarge)) throw error;
    yield tooLarge(request.id, server);
  }
}

/** One message of the origin's answer is larger than a session reads: what came before it was relayed. */
class AnswerTooLarge extends Error {}

const LF = 0x0a;
const CR = 0x0d;

/**
 * An SSE stream's bytes as they come, erroring with AnswerTooLarge once one event (the bytes since the last blank line;
 * CRLF, LF and CR all end lines) is over `maxBytes`: a stream may go on for long while no one event grows past it.
 */
function eventsWithin(maxBytes: number): TransformStream<Uint8Array, Uint8Array> {
  let size = 0;
  let lineEmpty = true;
  let afterCR = false;
  return new TransformStream({
    transform(chunk, controller) {
      for (const byte of chunk) {
        if (byte === LF && afterCR) {
          afterCR = false;
          continue;
        }
        afterCR = byte === CR;
        const endsLine = byte === LF || byte === CR;
        size = endsLine && lineEmpty ? 0 : size + 1;
        lineEmpty = endsLine;
        if (size > maxBytes) return controller.error(new AnswerTooLarge());
      }
      controller.enqueue(chunk);
    },
  });
}

/**
 * A message of the origin's answer, read as JSON-RPC: what is not (not JSON, or JSON without a request, a result or an
 * error with a numeric code and a message: a proxy's error page, a refusal of the origin's own) becomes the session's
 * -32000 saying so, rather than an `error: {}` its client cannot read and waits on.
 */
function jsonRpcOf(text: string, id: string | number, status: number): JsonRpcMessage {
  let message: JsonRpcMessage | undefined;
  try {
    message = JSON.parse(text) as JsonRpcMessage;
  } catch {
    message = undefined;
  }
  if (isJsonRpc(message)) return message;
  const said = `the origin answered HTTP ${status} without a JSON-RPC message`;
  console.error(`${said}; the session answers its client -32000`);
  return { jsonrpc: "2.0", id, error: { code: JSON_RPC.upstreamUnavailable, message: said } };
}

function isJsonRpc(message: JsonRpcMessage | undefined): message is JsonRpcMessage {
  if (typeof message !== "object" || message === null || message.jsonrpc !== "2.0") return false;
  if (typeof message.method === "string") return true;
  if (message.error !== undefined) return typeof message.error?.code === "number" && typeof message.error?.message === "string";
  return typeof message.result === "object" && message.result !== null;
}

/**
 * The answer to a request whose answer from the origin is too large to read: an error for its id, as the origin's own
 * answer would be, so that the session's client is told why and the session goes on (the rest is not read).
 */
function tooLarge(id: string | number, server: string): JsonRpcMessage {
  const bound = MAX_ORIGIN_MESSAGE_BYTES / 1024 / 1024;
  console.error(`origin's answer for server ${server} over the ${bound} MiB a session reads of one message: not relayed`);
  const message = `the answer of server "${server}" is larger than the ${bound} MiB the edge relays to this session in one message`;
  return { jsonrpc: "2.0", id, error: { code: JSON_RPC.upstreamUnavailable, message } };
}
