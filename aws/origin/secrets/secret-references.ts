import type { UpstreamServer } from "../../../contract/config/schema.ts";
import { isOriginOwn } from "./env/env-secrets.ts";

/** A `{ "secret": "<name>" }` in the servers' configuration, with its key path under `servers`. */
export interface SecretReference {
  path: string[];
  name: string;
}

/**
 * Every `{ "secret": "<name>" }` where the servers' configuration takes one (HTTP `headers`, stdio `env`, a static
 * OAuth client's `clientId` and `clientSecret`), with its path.
 */
export function secretReferences(servers: Record<string, UpstreamServer>): SecretReference[] {
  return Object.entries(servers).flatMap(([server, spec]) => {
    const values = spec.transport === "http" ? spec.headers : spec.env;
    const places: [string[], unknown][] = Object.entries(values).map(([key, value]) => [
      [server, spec.transport === "http" ? "headers" : "env", key],
      value,
    ]);
    if (spec.transport === "http" && spec.oauth)
      places.push(
        [[server, "oauth", "clientId"], spec.oauth.clientId],
        [[server, "oauth", "clientSecret"], spec.oauth.clientSecret],
      );
    return places.flatMap(([path, value]) =>
      typeof value === "object" && value !== null && "secret" in value ? [{ path, name: String(value.secret) }] : [],
    );
  });
}

/** Why a reference may not name one of the origin's own variables, after `names the secret "<name>", which `. */
export const ORIGIN_OWN_NAME =
  "is a name the origin keeps for its own settings (docs/configuration.md#secrets): a local run (npm start) never hands it to an upstream, so the same servers block would fail every call there; give the credential a name of its own (such as POSTGRES_MCP_URL)";

/** One line per reference naming one of the origin's own variables: refused at start, whatever the secrets provider. */
export function originOwnNameProblems(servers: Record<string, UpstreamServer>): string[] {
  return secretReferences(servers)
    .filter(({ name }) => isOriginOwn(name))
    .map(({ path, name }) => `servers.${path.join(".")}: names the secret "${name}", which ${ORIGIN_OWN_NAME}`);
}
