import type { OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import { type OwnBrowserClient, ownClientId } from "../../auth/own-browser-client.ts";
import { OPS_CLIENT_NAME } from "../../auth/own-client-names.ts";
import type { EdgeEnv } from "../../env.ts";

/** The dashboard's sign-in, as a client of the edge's own authorization server. */
export const OPS_CLIENT: OwnBrowserClient = {
  name: OPS_CLIENT_NAME,
  heading: "Sign in to this MCP proxy's ops dashboard",
  purpose: "The dashboard shows administrators the proxy's traffic, sign-ins and trust controls.",
  kvPrefix: "ops-dashboard-client",
};

export const opsClientId = (env: EdgeEnv, oauth: OAuthHelpers, redirectUri: string): Promise<string> =>
  ownClientId(env, oauth, OPS_CLIENT, redirectUri);
