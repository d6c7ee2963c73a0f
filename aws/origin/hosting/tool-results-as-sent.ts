import type { JSONRPCRequest, Server, ServerContext } from "@modelcontextprotocol/server";

type Result = Record<string, unknown>;
type Handler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>;

/** The SDK's hook (protected in its types) through which `Server` wraps each request handler it is given. */
interface WrapsHandlers {
  _wrapHandler(method: string, handler: Handler): Handler;
}

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
  const hooks = server as unknown as WrapsHandlers;
  // An SDK without the hook keeps its checks (forwarding-as-sent.test.ts then fails): never a server that cannot start.
  if (typeof hooks._wrapHandler !== "function") return;
  const wrap = hooks._wrapHandler.bind(server);
  hooks._wrapHandler = (method, handler) => {
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
        const sent = asSent(answered);
        if (sent) return sent;
        throw error;
      }
    };
  };
}

/** A complete result as the client gets it; undefined for none or an input_required one (the SDK's own checks stand). */
function asSent(result: Result | undefined): Result | undefined {
  if (!result || result.resultType === "input_required") return undefined;
  if (result.content !== undefined || FOREIGN_RESULT_KEYS.some((key) => key in result)) return result;
  return { ...result, content: [] };
}
