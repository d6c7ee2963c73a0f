import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { EdgeEnv } from "../env.ts";
import { opsRedirectUri } from "../ops/paths.ts";
import { OPS_CLIENT } from "../ops/sign-in/ops-client.ts";
import { CONSENT_CLIENT, consentRedirectUri } from "../upstream-auth/consent-client.ts";
import { type OwnBrowserClient, registeredOwnClientId } from "./own-browser-client.ts";

/** The edge's own browser sign-ins, each with the redirect URI it is registered under. */
const OWN_CLIENTS: readonly { client: OwnBrowserClient; redirectUri: (config: EdgeConfig) => string }[] = [
  { client: OPS_CLIENT, redirectUri: opsRedirectUri },
  { client: CONSENT_CLIENT, redirectUri: consentRedirectUri },
];

/** Which of the edge's own browser sign-ins this client id is, or null for any other client. */
export async function ownClientOf(env: EdgeEnv, config: EdgeConfig, clientId: string): Promise<OwnBrowserClient | null> {
  const ids = await Promise.all(
    OWN_CLIENTS.map(({ client, redirectUri }) => registeredOwnClientId(env, client, redirectUri(config))),
  );
  return OWN_CLIENTS[ids.indexOf(clientId)]?.client ?? null;
}
