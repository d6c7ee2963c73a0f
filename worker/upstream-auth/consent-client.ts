import type { OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import type { EdgeEnv } from "../env.ts";

/** What the edge's consent page calls the sign-in that confirms who connects an upstream account. */
export const CONSENT_CLIENT_NAME = "Connect your account at a server (this MCP proxy)";

/**
 * The client id, at the edge's own authorization server, of the browser sign-in that ends an upstream's consent: a
 * public client (PKCE, no secret) registered once per redirect URI on first use and remembered in KV, so a deployment
 * needs no extra step. Should two isolates register at once, both clients work and the last one is remembered.
 */
export async function consentClientId(env: EdgeEnv, oauth: OAuthHelpers, redirectUri: string): Promise<string> {
  const key = `upstream-consent-client:${redirectUri}`;
  const remembered = await env.OAUTH_KV.get(key);
  if (remembered && (await oauth.lookupClient(remembered))) return remembered;
  const client = await oauth.createClient({
    clientName: CONSENT_CLIENT_NAME,
    redirectUris: [redirectUri],
    tokenEndpointAuthMethod: "none",
    grantTypes: ["authorization_code"],
    responseTypes: ["code"],
  });
  await env.OAUTH_KV.put(key, client.clientId);
  return client.clientId;
}
