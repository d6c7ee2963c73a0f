import { DurableObject } from "cloudflare:workers";

/**
 * `npm run bench:object-hop`: what one Worker → Durable Object RPC costs on this wrangler, with nothing else in the
 * way. `/` answers at once; `/object` answers with what an object returned for a small argument.
 */
export class Echo extends DurableObject {
  echo(text: string): { text: string } {
    return { text };
  }
}

export default {
  async fetch(request: Request, env: { ECHO: DurableObjectNamespace<Echo> }): Promise<Response> {
    if (new URL(request.url).pathname !== "/object") return new Response("ok");
    const { text } = await env.ECHO.get(env.ECHO.idFromName("one")).echo("ok");
    return new Response(text);
  },
};
