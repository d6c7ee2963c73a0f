import { SECRET_ID_PREFIX_VARIABLE, secretsManagerProviderFromEnvironment } from "./aws/secrets-manager-provider.ts";
import { createEnvSecretsProvider } from "./env/env-secrets.ts";
import type { SecretsProvider } from "./provider.ts";
import { withReasonsInLog } from "./reasons-in-log.ts";

/**
 * The secrets backend for this process: AWS Secrets Manager where the CDK stack has set its prefix variable
 * (in ECS), else the environment (`npm start`, tests, plain containers). Its refusals' reasons go to `log` only.
 */
export function secretsProviderFor(env: NodeJS.ProcessEnv, log: (line: string) => void): SecretsProvider {
  const backend = env[SECRET_ID_PREFIX_VARIABLE] ? secretsManagerProviderFromEnvironment(env) : createEnvSecretsProvider(env);
  return withReasonsInLog(backend, log);
}
