import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { IDP_CALLBACK_PATH } from "../authorization-server.ts";
import type { ProviderMetadata } from "./discovery.ts";
import { IdpUnavailable } from "./idp-unavailable.ts";

/**
 * Exchanges the IdP's authorization code for its id_token (client_secret_basic, with the PKCE verifier).
 * The IdP's access and refresh tokens are dropped here: the edge needs only who the user is.
 */
export async function exchangeCode(
  config: EdgeConfig,
  provider: ProviderMetadata,
  code: string,
  verifier: string,
): Promise<string> {
  const credentials = btoa(`${encodeURIComponent(config.idp.clientId)}:${encodeURIComponent(config.idp.clientSecret)}`);
  const response = await fetch(provider.token_endpoint, {
    method: "POST",
    headers: {
      authorization: `Basic ${credentials}`,
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
    },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: `${config.publicUrl}${IDP_CALLBACK_PATH}`,
      code_verifier: verifier,
    }),
    signal: AbortSignal.timeout(config.idp.requestTimeoutSeconds * 1000),
  }).catch((error: unknown) => {
    throw new IdpUnavailable(`the identity provider could not be reached for the code exchange (${(error as Error).message})`);
  });
  if (response.status >= 500)
    throw new IdpUnavailable(`the identity provider failed the code exchange (status ${response.status})`);
  const body = (await response.json().catch(() => ({}))) as { id_token?: unknown; error?: unknown };
  if (!response.ok || typeof body.id_token !== "string") {
    const reason = typeof body.error === "string" ? body.error : `status ${response.status}`;
    throw new Error(`the identity provider refused the code exchange (${reason})`);
  }
  return body.id_token;
}
