import { EDGE_ENV_NAMES, ORIGIN_ENV_NAMES } from "../../../../contract/config/env-names.ts";
import { SECRET_ID_PREFIX_VARIABLE } from "../aws/secrets-manager-provider.ts";
import type { SecretsProvider } from "../provider.ts";

/**
 * The origin's own settings: never handed to an upstream, whatever a server's configuration names (an upstream given
 * the edge's shared key could speak for any user; one given the task's AWS credentials could act as the origin).
 */
const ORIGIN_OWN = new Set<string>([
  ...Object.keys(ORIGIN_ENV_NAMES),
  // `npm start` runs the edge beside the origin, from one environment: its secrets may be there too.
  ...Object.keys(EDGE_ENV_NAMES),
  SECRET_ID_PREFIX_VARIABLE,
  "MCP_PROXY_CONFIG",
]);
/**
 * Families of variables the origin's libraries and tools read: the AWS SDK's and ECS's credentials
 * (`AWS_SECRET_ACCESS_KEY`, `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, …), libpq's database login (`PGPASSWORD`,
 * `PGPASSFILE`, …), the migration command's (`DATABASE_APP_PASSWORD`, …), and `npm start`'s own (`LOCAL_*`).
 */
const ORIGIN_OWN_PREFIXES = ["AWS_", "ECS_", "PG", "DATABASE_", "LOCAL_"];

export const isOriginOwn = (name: string) =>
  ORIGIN_OWN.has(name) || ORIGIN_OWN_PREFIXES.some((prefix) => name.startsWith(prefix));

/** Secrets from the origin's environment, by variable name: for `npm start`, tests and plain container setups. */
export function createEnvSecretsProvider(env: NodeJS.ProcessEnv = process.env): SecretsProvider {
  return {
    async get(name) {
      if (isOriginOwn(name))
        throw new Error(
          `"${name}" is a setting of the origin itself, not an upstream credential: give the upstream a variable of its own`,
        );
      const value = env[name];
      if (value === undefined || value === "") throw new Error(`secret "${name}" is not set in the origin's environment`);
      return value;
    },
  };
}
