import { SECRET_ID_PREFIX_VARIABLE, secretsManagerProviderFromEnvironment } from "./aws/secrets-manager-provider.ts";
import { createEnvSecretsProvider } from "./env/env-secrets.ts";
import type { SecretsProvider } from "./provider.ts";

/**
 * The secrets backend for this process: AWS Secrets Manager where the CDK stack has set its prefix variable
 * (in ECS), else the environment (`npm start`, tests, plain containers).
 */
export function secretsProviderFor(env: NodeJS.ProcessEnv): SecretsProvider {
  return env[SECRET_ID_PREFIX_VARIABLE] ? secretsManagerProviderFromEnvironment(env) : createEnvSecretsProvider(env);
}
