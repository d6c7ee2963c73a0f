import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { IDP_CALLBACK_PATH } from "../authorization-server.ts";
import { ACCOUNT_CHOICE_PROMPT } from "./account-choice.ts";
import type { ProviderMetadata } from "./discovery.ts";

/** Where the browser goes to sign in at the identity provider. */
export function idpAuthorizationUrl(
  config: EdgeConfig,
  provider: ProviderMetadata,
  request: { state: string; nonce: string; codeChallenge: string; chooseAccount?: boolean },
): string {
  const url = new URL(provider.authorization_endpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", config.idp.clientId);
  url.searchParams.set("redirect_uri", `${config.publicUrl}${IDP_CALLBACK_PATH}`);
  url.searchParams.set("scope", config.idp.scopes.join(" "));
  url.searchParams.set("state", request.state);
  url.searchParams.set("nonce", request.nonce);
  url.searchParams.set("code_challenge", request.codeChallenge);
  url.searchParams.set("code_challenge_method", "S256");
  if (request.chooseAccount) url.searchParams.set("prompt", ACCOUNT_CHOICE_PROMPT);
  // Google shows only accounts of this Workspace domain. A hint only: the id_token's `hd` is what is checked.
  const [onlyDomain, ...others] = config.idp.allowedDomains;
  if (onlyDomain && others.length === 0) url.searchParams.set("hd", onlyDomain);
  return url.toString();
}
