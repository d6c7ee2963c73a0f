import type { OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import type { EdgeEnv } from "../../env.ts";

/** What the consent page calls the dashboard. */
export const OPS_CLIENT_NAME = "Ops dashboard of this MCP proxy";

/**
 * The dashboard's client id at the edge's own authorization server: a public client (PKCE, no secret) registered
 * once per redirect URI and remembered in KV. Registered on first use rather than configured, so a deployment needs
 * no extra step; should two isolates register at once, both clients work and the last one is remembered.
 */
export async function opsClientId(env: EdgeEnv, oauth: OAuthHelpers, redirectUri: string): Promise<string> {
  const key = `ops-dashboard-client:${redirectUri}`;
  const remembered = await env.OAUTH_KV.get(key);
  if (remembered && (await oauth.lookupClient(remembered))) return remembered;
  const client = await oauth.createClient({
    clientName: OPS_CLIENT_NAME,
    redirectUris: [redirectUri],
    tokenEndpointAuthMethod: "none",
    grantTypes: ["authorization_code"],
    responseTypes: ["code"],
  });
  await env.OAUTH_KV.put(key, client.clientId);
  return client.clientId;
}
