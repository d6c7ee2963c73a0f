/**
 * An HTTP request of a 2025-era session as the Worker hands it to the session object: plain data, so that crossing
 * the RPC copies a few strings instead of a Request and its body stream. The Worker has read the body already.
 */
export interface SessionHttpRequest {
  url: string;
  method: string;
  /** The MCP transport's own headers only (worker/mcp/relay-headers.ts). */
  headers: Record<string, string>;
  /** A POST's body as text. */
  body?: string;
}

/**
 * The Request the SDK's transport serves, made only when the short way does not apply. It carries the body only when
 * that is not JSON (`parsed` undefined), for the transport to answer the parse error in the protocol's words.
 */
export function toRequest(http: SessionHttpRequest, parsed: unknown): Request {
  const unparsed = http.body !== undefined && parsed === undefined;
  return new Request(http.url, { method: http.method, headers: http.headers, body: unparsed ? http.body : undefined });
}
