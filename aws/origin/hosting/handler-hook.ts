import type { JSONRPCRequest, Server, ServerContext } from "@modelcontextprotocol/server";

type Params = Record<string, unknown>;
export type Handler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<Params>;

/** The SDK's hook (protected in its types) through which `Server` wraps each request handler it is given. */
interface WrapsHandlers {
  _wrapHandler(method: string, handler: Handler): Handler;
}

const warned = new Set<string>();

/**
 * Puts `around` between the SDK's `Server` and each handler it wraps: `around(method, handler, wrap)` returns what
 * `wrap` (the SDK's own wrapping) should give instead. Through a protected hook of the SDK (checked against
 * @modelcontextprotocol/server 2.4): an SDK without it keeps its own behaviour, and says so once in the log (and
 * forwarding-as-sent.test.ts fails), never a server that cannot start.
 */
export function aroundHandlers(
  server: Server,
  what: string,
  around: (method: string, handler: Handler, wrap: (method: string, handler: Handler) => Handler) => Handler,
): void {
  const hooks = server as unknown as WrapsHandlers;
  if (typeof hooks._wrapHandler !== "function") {
    if (!warned.has(what))
      console.warn(
        `the MCP SDK no longer has the hook the origin uses so that ${what}: it does not, until the origin is updated`,
      );
    warned.add(what);
    return;
  }
  const wrap = hooks._wrapHandler.bind(server);
  hooks._wrapHandler = (method, handler) => around(method, handler, wrap);
}
