import type { Server, ServerContext } from "@modelcontextprotocol/server";
import { aroundHandlers } from "./handler-hook.ts";

type Params = Record<string, unknown>;

/** Each request's params as the client sent them, by the context its handler is given. */
const sent = new WeakMap<ServerContext, Params>();

/**
 * Makes each request's params as the client sent them readable by its handler (`paramsAsSent`). The SDK hands a
 * handler the params its schema of the method parsed, without the fields the schema does not name: a vendor's
 * extension (`x-vendor`) would not reach the upstream, where a client calling it directly gets it there. The SDK's
 * checks still run (an invalid request is refused before the handler); what the schema names is the same either way.
 */
export function keepParamsAsSent(server: Server): void {
  aroundHandlers(server, "request params reach upstreams as the client sent them", (method, handler, wrap) =>
    wrap(method, (request, ctx) => {
      const params = request.params as unknown;
      if (typeof params === "object" && params !== null && !Array.isArray(params)) sent.set(ctx, params as Params);
      return handler(request, ctx);
    }),
  );
}

/**
 * The request's params as the client sent them (a copy), or `parsed` where they were not kept. Not `task`: the proxy
 * relays no upstream's tasks capability, and a task the upstream began would answer with a task the client cannot
 * follow through the proxy; the call runs as a plain call, as before.
 */
export function paramsAsSent(ctx: ServerContext, parsed: Params): Params {
  const raw = sent.get(ctx);
  if (!raw) return parsed;
  const { task: _notRelayed, ...params } = raw;
  return params;
}
