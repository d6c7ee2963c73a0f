import { ProtocolError, ProtocolErrorCode, type Server } from "@modelcontextprotocol/server";
import { aroundHandlers } from "./handler-hook.ts";

type Result = Record<string, unknown>;

/**
 * Keys of a result that is not a tool's outcome: the SDK gives such a result no empty `content` either
 * (`TOOL_RESULT_FOREIGN_FAMILY_KEYS` in its dist).
 */
const FOREIGN_RESULT_KEYS = ["task", "inputRequests", "requestState"];

/**
 * Makes `server` answer `tools/call` with the handler's result as it is. The SDK's `Server` checks a tool's result
 * against its own schema of the served revision and answers with what the schema kept: unknown fields of a content
 * block are dropped, and a block of a type it does not know (a newer revision's), an `isError` that is not a boolean or
 * a text block without text turns the upstream's whole answer, perhaps of a call that acted, into -32602 "Invalid
 * params", which tells a client that its arguments were wrong. The proxy relays what the upstream answered, as a
 * client reaching the upstream directly would get it; only an absent `content` becomes `[]`, as the SDK does (a
 * 2025-era client's schema requires it).
 *
 * Everything else the SDK does around a `tools/call` stays: the request's own checks, the request state's
 * verification and an input-required result's checks (the client's capabilities, -32021). The SDK's wrapper runs as
 * before, on a handler that keeps the result it returns: when that result is complete (not input_required), nothing
 * but the result check runs after it, and it is what the client gets, whatever that check said.
 */
export function keepToolResultsAsSent(server: Server): void {
  aroundHandlers(server, "tool results reach clients as the upstream wrote them", (method, handler, wrap) => {
    if (method !== "tools/call") return wrap(method, handler);
    return async (request, ctx) => {
      let answered: Result | undefined;
      const checked = wrap(method, async (req, context) => {
        answered = await handler(req, context);
        return answered;
      });
      try {
        const result = await checked(request, ctx);
        return asSent(answered) ?? result;
      } catch (error) {
        const sent = isResultCheck(error) ? asSent(answered) : undefined;
        if (sent) return sent;
        throw error;
      }
    };
  });
}

/** The SDK's refusal of a tool's result by its schema: the one check a result as sent is let past, no other. */
const isResultCheck = (error: unknown): boolean =>
  error instanceof ProtocolError &&
  error.code === ProtocolErrorCode.InvalidParams &&
  error.message.startsWith("Invalid tools/call result");

/** A complete result as the client gets it; undefined for none or an input_required one (the SDK's own checks stand). */
function asSent(result: Result | undefined): Result | undefined {
  if (!result || result.resultType === "input_required") return undefined;
  if (result.content !== undefined || FOREIGN_RESULT_KEYS.some((key) => key in result)) return result;
  return { ...result, content: [] };
}
