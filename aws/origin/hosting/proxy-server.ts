import type { Client } from "@modelcontextprotocol/client";
import { Server } from "@modelcontextprotocol/server";
import { z } from "zod";

/** Results pass through untouched: the proxy neither validates nor reshapes what the upstream answers. */
const AnyResult = z.looseObject({});

/**
 * A server that answers every request by asking the upstream, so the upstream appears over HTTP with its own
 * name, capabilities and instructions. The SDK serving it speaks both protocol eras to the edge.
 */
export function proxyServer(upstream: Client): Server {
  const server = new Server(upstream.getServerVersion() ?? { name: "upstream", version: "unknown" }, {
    capabilities: upstream.getServerCapabilities() ?? {},
    instructions: upstream.getInstructions(),
  });
  server.fallbackRequestHandler = async (request, ctx) =>
    upstream.request({ method: request.method, params: request.params }, AnyResult, { signal: ctx.mcpReq.signal });
  return server;
}
