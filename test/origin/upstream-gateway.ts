import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What a gateway does with one request: answer it itself (true), or pass it on to the upstream (false). */
export type Intercept = (body: Buffer, request: IncomingMessage, response: ServerResponse) => boolean;

export interface UpstreamGateway {
  /** The upstream's MCP endpoint, reached through the gateway. */
  url: string;
  close(): void;
}

/**
 * A gateway in front of an HTTP upstream (a proxy, a balancer, an upstream misbehaving): each request is offered to
 * `intercept` first, and what it leaves is passed on, request and whole answer only (a GET stream stays open here,
 * unanswered: the SDK's client does without it).
 */
export async function startUpstreamGateway(upstreamUrl: string, intercept: Intercept): Promise<UpstreamGateway> {
  const upstream = new URL(upstreamUrl);
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (intercept(body, request, response)) return;
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== "host")) as Record<
      string,
      string
    >;
    const answer = await fetch(new URL(request.url ?? "/", upstream), {
      method: request.method,
      headers,
      body: body.length ? body : undefined,
    });
    answer.headers.forEach((value, name) => {
      response.setHeader(name, value);
    });
    response.writeHead(answer.status);
    response.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${upstream.pathname}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
