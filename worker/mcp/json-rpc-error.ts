import { REQUEST_CANCELLED_CODE } from "../../contract/answer-outcome.ts";

/** A JSON-RPC error answer the edge gives itself (when the origin is unreachable, or a request is refused before relaying). */
export function jsonRpcError(
  status: number,
  id: string | number | undefined,
  code: number,
  message: string,
  headers?: Record<string, string>,
  data?: unknown,
): Response {
  const error = { code, message, ...(data !== undefined && { data }) };
  return Response.json({ jsonrpc: "2.0", id: id ?? null, error }, { status, headers });
}

/** JSON-RPC codes the edge uses. */
export const JSON_RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Implementation-defined server error range: the upstream could not be reached. */
  upstreamUnavailable: -32000,
  /** A session id the edge does not know (or that belongs to someone else); the client re-initializes. */
  sessionNotFound: -32001,
  /** The client cancelled the request (the code LSP defines; MCP has none of its own); audited as `cancelled`. */
  requestCancelled: REQUEST_CANCELLED_CODE,
} as const;
