import { EventSourceParserStream } from "eventsource-parser/stream";
import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { type EdgeAssertionClaims, originMcpPath } from "../../../contract/edge-assertion.ts";
import { edgeConfig } from "../../config.ts";
import type { EdgeEnv } from "../../env.ts";
import { type OriginAffinityStore, originAffinity } from "../../upstream/affinity.ts";
import { fetchOrigin } from "../../upstream/fetch-origin.ts";

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

/** A header value per 2026-07-28: plain if it is ASCII, else the `=?base64?…?=` form. */
function headerValue(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  const bytes = new TextEncoder().encode(value);
  return `=?base64?${btoa(String.fromCharCode(...bytes))}?=`;
}

/**
 * Sends one request to the origin and yields every JSON-RPC message of its answer, in order: the notifications
 * it streams first, then the response. The origin answers with one JSON body or an SSE stream; both arrive here
 * as the same sequence. A stream that ends without the response ends the iteration without it.
 */
export async function* exchangeWithOrigin(
  link: OriginLink,
  server: string,
  claims: EdgeAssertionClaims,
  request: HopRequest,
  signal: AbortSignal,
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
  if (!response.headers.get("content-type")?.includes("text/event-stream")) {
    const bytes = await response.arrayBuffer();
    if (bytes.byteLength > 0) yield JSON.parse(new TextDecoder().decode(bytes)) as JsonRpcMessage;
    return;
  }
  const events = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const event of events) {
    if (!event.data) continue;
    yield JSON.parse(event.data) as JsonRpcMessage;
  }
}
