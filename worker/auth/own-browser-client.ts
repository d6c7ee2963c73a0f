import type { OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { EdgeEnv } from "../env.ts";
import { opsResource } from "../ops/paths.ts";
import { TOKEN_PATH } from "./authorization-server.ts";
import { handleTokenRequest } from "./token-endpoint.ts";

/**
 * A browser sign-in the edge runs against its own authorization server (the /ops dashboard, the end of an upstream's
 * consent), as a public client of its own (PKCE, no secret). The client is registered once per redirect URI on first
 * use and remembered in KV, so a deployment needs no extra step; should two isolates register at once, both clients
 * work and the last one is remembered.
 */
export interface OwnBrowserClient {
  /** Its registered name (no other client may register it). */
  name: string;
  /** The heading of its own page before the identity provider, in place of an app's consent page. */
  heading: string;
  /** One sentence on what the sign-in is for. */
  purpose: string;
  /** The KV key of its client id is `<kvPrefix>:<redirect URI>`. */
  kvPrefix: string;
}

export async function ownClientId(
  env: EdgeEnv,
  oauth: OAuthHelpers,
  client: OwnBrowserClient,
  redirectUri: string,
): Promise<string> {
  const remembered = await registeredOwnClientId(env, client, redirectUri);
  if (remembered && (await oauth.lookupClient(remembered))) return remembered;
  const registered = await oauth.createClient({
    clientName: client.name,
    redirectUris: [redirectUri],
    tokenEndpointAuthMethod: "none",
    grantTypes: ["authorization_code"],
    responseTypes: ["code"],
  });
  await env.OAUTH_KV.put(kvKeyOf(client, redirectUri), registered.clientId);
  return registered.clientId;
}

/** The client id such a sign-in was registered under, or null before its first use; never registers one. */
export const registeredOwnClientId = (env: EdgeEnv, client: OwnBrowserClient, redirectUri: string): Promise<string | null> =>
  env.OAUTH_KV.get(kvKeyOf(client, redirectUri));

const kvKeyOf = (client: OwnBrowserClient, redirectUri: string) => `${client.kvPrefix}:${redirectUri}`;

/**
 * Redeems the code of such a sign-in at the edge's own token endpoint (in-process, no network hop), for the
 * dashboard's resource: the token endpoint's answer, whatever it is. It takes the token endpoint's every step (the
 * grant's turn, so a replay beside it is seen as one; the bounds), and its refusals are audited as the endpoint's are,
 * as made at the path the browser came back to (`/ops/callback (authorization-code-grant/code_replayed)`): counted
 * against that browser's address's token budget, as an exchange it posted itself would be, so that requests with
 * made-up codes and sign-in cookies cannot fill the audit trail.
 */
export function redeemOwnCode(
  config: EdgeConfig,
  env: EdgeEnv,
  ctx: ExecutionContext,
  browser: Request,
  sign: { code: string; redirectUri: string; clientId: string; verifier: string },
): Promise<Response> {
  const address = browser.headers.get("cf-connecting-ip");
  const exchange = new Request(`${config.publicUrl}${TOKEN_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(address && { "cf-connecting-ip": address }) },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: sign.code,
      redirect_uri: sign.redirectUri,
      client_id: sign.clientId,
      code_verifier: sign.verifier,
      resource: opsResource(config),
    }),
  });
  return handleTokenRequest(exchange, env, ctx, new URL(browser.url).pathname);
}
