import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import { JSON_RPC, jsonRpcError } from "../../worker/mcp/json-rpc-error.ts";

/** What a session reads of the messages its client sends: pure functions of the message, and the answers they get. */

export type InitializeMessage = { id: string | number; params: Record<string, unknown> };

export function isInitialize(body: unknown): body is InitializeMessage {
  return typeof body === "object" && body !== null && (body as { method?: unknown }).method === "initialize";
}

/**
 * Whether a POST's body is one JSON-RPC message (a request, a notification or a response), as the 2024-11-05 transport
 * takes them: its server would drop anything else without a word, and the client wait for an answer that never comes.
 */
export const isOneMessage = (body: unknown): boolean =>
  isJSONRPCRequest(body) || isJSONRPCNotification(body) || isJSONRPCResultResponse(body) || isJSONRPCErrorResponse(body);

/**
 * Answers a request its client cancelled while its answer was to stream. The SDK answers nothing then, so the request's
 * stream stayed open (and the object in memory) for as long as the client ran, and a resumption of it was held open
 * too. The error, which the client that cancelled ignores, ends the stream and is logged like any answer. Nothing is
 * sent for a request already answered, or answered on the short way (the transport has no stream for it).
 */
export async function answerCancelled(transport: WebStandardStreamableHTTPServerTransport, id: string | number): Promise<void> {
  await answerWith(transport, id, { code: JSON_RPC.requestCancelled, message: "cancelled by the client" });
}

/**
 * Answers request `id` with `error` on its stream, the session's own word (the session ends: past `sessionsPerUser`).
 * Nothing is sent for a request answered already: its stream is gone, and its later answer finds none either.
 */
export async function answerWith(
  transport: WebStandardStreamableHTTPServerTransport,
  id: string | number,
  error: { code: number; message: string },
): Promise<void> {
  const answer = { jsonrpc: "2.0" as const, id, error: { code: error.code, message: error.message } };
  await transport.send(answer, { relatedRequestId: id }).catch(() => {});
}

/**
 * The answer to a client resuming a stream that can bring nothing more (no request of the session is still worked on,
 * and the log holds nothing of the stream after the client's last event): no stream at all. The SDK would open one and
 * close it at once, and SDK v1 clients (which take an error answer for no answer) resume such a stream again and again,
 * then open GET streams that replace each other, every second for as long as they run.
 */
export const nothingMoreOnStream = () => new Response(null, { status: 204 });

/** The refusal of a request whose id an unanswered request of the session holds (MCP: ids unique within a session). */
export const idInUse = (id: string | number) =>
  jsonRpcError(
    400,
    undefined,
    JSON_RPC.invalidRequest,
    `request id ${JSON.stringify(id)} is in use by an unanswered request of this session: send each request under a new id`,
  );
