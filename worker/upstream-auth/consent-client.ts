import type { OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import { type OwnBrowserClient, ownClientId } from "../auth/own-browser-client.ts";
import { CONSENT_CLIENT_NAME } from "../auth/own-client-names.ts";
import type { EdgeEnv } from "../env.ts";

/** Where the edge's own authorization server sends the browser back after it signed in. */
export const CONSENT_SIGNED_IN_PATH = "/upstream-oauth/signed-in";

/** Where the edge's authorization server sends that sign-in back. */
export const consentRedirectUri = (config: EdgeConfig): string => `${config.publicUrl}${CONSENT_SIGNED_IN_PATH}`;

/** The sign-in that confirms who connects an upstream account, as a client of the edge's own authorization server. */
export const CONSENT_CLIENT: OwnBrowserClient = {
  name: CONSENT_CLIENT_NAME,
  heading: "Confirm it is you, to finish connecting your account at a server",
  purpose:
    "You just signed in at one of the MCP servers behind this proxy; signing in here ties that connection to your account, so that only you can use it.",
  kvPrefix: "upstream-consent-client",
};

export const consentClientId = (env: EdgeEnv, oauth: OAuthHelpers, redirectUri: string): Promise<string> =>
  ownClientId(env, oauth, CONSENT_CLIENT, redirectUri);
