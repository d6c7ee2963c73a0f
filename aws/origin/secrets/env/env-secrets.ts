import type { SecretsProvider } from "../provider.ts";

/** Secrets from the origin's environment, by variable name: for `npm start`, tests and plain container setups. */
export function createEnvSecretsProvider(env: NodeJS.ProcessEnv = process.env): SecretsProvider {
  return {
    async get(name) {
      const value = env[name];
      if (value === undefined || value === "") throw new Error(`secret "${name}" is not set in the origin's environment`);
      return value;
    },
  };
}
