import { ORIGIN_ENV_NAMES } from "../../../../contract/config/env-names.ts";
import type { SecretsProvider } from "../provider.ts";

/**
 * The origin's own settings and the database login it reads through libpq's variables: never handed to an upstream,
 * whatever a server's configuration names (an upstream given the edge's shared key could speak for any user).
 */
const ORIGIN_OWN = new Set<string>([...Object.keys(ORIGIN_ENV_NAMES), "PGUSER", "PGPASSWORD", "PGHOST", "PGDATABASE"]);

/** Secrets from the origin's environment, by variable name: for `npm start`, tests and plain container setups. */
export function createEnvSecretsProvider(env: NodeJS.ProcessEnv = process.env): SecretsProvider {
  return {
    async get(name) {
      if (ORIGIN_OWN.has(name))
        throw new Error(
          `"${name}" is a setting of the origin itself, not an upstream credential: give the upstream a variable of its own`,
        );
      const value = env[name];
      if (value === undefined || value === "") throw new Error(`secret "${name}" is not set in the origin's environment`);
      return value;
    },
  };
}
