import { OAuthAuthorizationServer, type OAuthAuthorizationServerOptions } from "@cloudflare/workers-oauth-provider";
import type { EdgeEnv } from "../../env.ts";
import { clientRefused, oauthError } from "../oauth-error.ts";
import { metadataUrlProblem } from "./metadata-url-problem.ts";
import { tokenRequestClientIds } from "./token-request-client-ids.ts";

/**
 * The library's authorization server, with the edge's SSRF rule on Client ID Metadata Document URLs applied before
 * the library resolves a client at its token endpoint (code exchange, refresh, revocation): the library fetches a
 * CIMD client's document there too, so a request naming a private address would otherwise make the edge fetch it.
 * `/authorize` applies the same rule itself before looking the client up (worker/auth/authorize.ts).
 */
export class GuardedAuthorizationServer extends OAuthAuthorizationServer<EdgeEnv> {
  readonly #allowedHosts: readonly string[];
  readonly #tokenPath: string;

  constructor(allowedHosts: readonly string[], options: OAuthAuthorizationServerOptions<EdgeEnv>) {
    super(options);
    this.#allowedHosts = allowedHosts;
    this.#tokenPath = new URL(options.tokenEndpoint ?? `${options.issuer}/oauth/token`).pathname;
  }

  override async fetch(request: Request, env: EdgeEnv, ctx: ExecutionContext): Promise<Response> {
    if (new URL(request.url).pathname === this.#tokenPath) {
      const clients = await tokenRequestClientIds(request);
      if ("repeated" in clients)
        return oauthError(400, "invalid_request", `The parameter "${clients.repeated}" is sent more than once (RFC 6749 §3.2)`);
      if ("unreadable" in clients)
        return clientRefused(request, `Client authentication failed: ${clients.unreadable} cannot be read`);
      for (const clientId of clients.ids) {
        const problem = metadataUrlProblem(clientId, this.#allowedHosts);
        if (!problem) continue;
        console.warn(`client-id-metadata-document: refused at the token endpoint (${problem})`);
        return clientRefused(request, `Client ID refused: ${problem}`);
      }
    }
    return super.fetch(request, env, ctx);
  }
}
