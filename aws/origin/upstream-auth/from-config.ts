import type pg from "pg";
import type { OriginConfig } from "../../../contract/config/schema.ts";
import { upstreamCallbackPath, upstreamClientMetadataPath } from "../../../contract/upstream-oauth.ts";
import type { SecretsProvider } from "../secrets/provider.ts";
import { connectionKeysFromConfig, vaultKeysFromConfig } from "../vault/from-config.ts";
import { TokenVault } from "../vault/token-vault.ts";
import { ClientRegistrations } from "./client-registration.ts";
import { AuthorizationDiscovery } from "./discovery.ts";
import { PendingAuthorizations } from "./pending-authorizations.ts";
import { UpstreamOAuth } from "./upstream-oauth.ts";

/**
 * The origin's OAuth client toward the servers configured with `oauth`, or undefined when none is. Its redirect URI and
 * Client ID Metadata Document are on the edge's public URL (`edgeIssuer`): an upstream's authorization server and the
 * user's browser reach the edge, never the origin inside its VPC.
 */
export function upstreamOAuthFromConfig(
  config: OriginConfig,
  db: pg.Pool,
  secrets: SecretsProvider,
  log: (line: string) => void,
): UpstreamOAuth | undefined {
  const protectedServers = Object.values(config.servers).some((spec) => spec.transport === "http" && spec.oauth);
  if (!protectedServers) return undefined;
  const keys = vaultKeysFromConfig(config.upstreamVault, log);
  const edge = config.edgeIssuer;
  const identity = {
    redirectUriOf: (server: string) => `${edge}${upstreamCallbackPath(server)}`,
    clientMetadataUrlOf: (server: string) => `${edge}${upstreamClientMetadataPath(server)}`,
    clientName: new URL(edge).host,
  };
  return new UpstreamOAuth({
    vault: new TokenVault(db, connectionKeysFromConfig(keys, config.upstreamVault)),
    pending: new PendingAuthorizations(db, keys),
    discovery: new AuthorizationDiscovery(),
    clients: new ClientRegistrations(identity, secrets),
    log,
  });
}
