import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface TokenForwarder {
  /** What a client connects to instead of the edge: `http://127.0.0.1:<port>/mcp`. */
  url: string;
  /** The forwarder's own origin, `http://127.0.0.1:<port>`. */
  origin: string;
  close(): Promise<void>;
}

export interface TokenForwarderOptions {
  /** The edge endpoint every request goes to, e.g. `http://localhost:8787/mcp/modern`. */
  target: string;
  /** A real access token the edge issued; sent as `Authorization: Bearer <token>` on every request. */
  accessToken: string;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's own, never forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
]);

function endToEndHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    kept[name] = value;
  }
  return kept;
}

/**
 * Stands in for an MCP client that connected to the edge directly and signed in: forwards every request to one
 * edge endpoint with the client's bearer token, streaming both bodies (an SSE response flows event by event).
 *
 * It rewrites only what a direct connection would have carried differently: `Host` becomes the edge's, an `Origin`
 * equal to the forwarder's own origin becomes the edge's origin, and `Authorization` is the real token. Any other
 * `Origin` passes through unchanged, so the edge's DNS-rebinding check still sees a foreign one. Query strings are
 * kept; the path is always the target's.
 */
export async function startTokenForwarder(options: TokenForwarderOptions): Promise<TokenForwarder> {
  const target = new URL(options.target);
  let ownOrigin = "";
  const server: Server = createServer((incoming, outgoing) => {
    const headers = endToEndHeaders(incoming.headers);
    headers.host = target.host;
    if (headers.origin === ownOrigin) headers.origin = target.origin;
    headers.authorization = `Bearer ${options.accessToken}`;
    const query = new URL(incoming.url ?? "/", ownOrigin).search;
    const upstream = httpRequest(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        path: `${target.pathname}${query}`,
        method: incoming.method,
        headers,
      },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.statusMessage, endToEndHeaders(response.headers));
        // Headers go out at once (an SSE stream may send its first event much later), and each chunk as it arrives.
        outgoing.flushHeaders();
        response.on("data", (chunk: Buffer) => outgoing.write(chunk));
        response.on("end", () => outgoing.end());
        response.on("error", () => outgoing.destroy());
        response.on("aborted", () => outgoing.destroy());
      },
    );
    upstream.on("error", (error) => {
      if (outgoing.headersSent) {
        outgoing.destroy();
        return;
      }
      outgoing.writeHead(502, { "content-type": "text/plain" });
      outgoing.end(`token forwarder: ${error.message}`);
    });
    incoming.pipe(upstream);
    // A client that goes away (a closed SSE stream, a cancelled call) closes the edge connection too.
    outgoing.on("close", () => {
      if (!outgoing.writableFinished) upstream.destroy();
    });
  });
  // Long-lived SSE streams must not be cut by the server's default timeouts.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  ownOrigin = `http://127.0.0.1:${port}`;
  return {
    url: `${ownOrigin}/mcp`,
    origin: ownOrigin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
