import { SECRET_ID_PREFIX_VARIABLE, secretsManagerProviderFromEnvironment } from "./aws/secrets-manager-provider.ts";
import { withBoundedInvalidate } from "./bounded-invalidate.ts";
import { createEnvSecretsProvider } from "./env/env-secrets.ts";
import type { SecretsProvider } from "./provider.ts";
import { withReasonsInLog } from "./reasons-in-log.ts";

/**
 * The secrets backend for this process: AWS Secrets Manager where the CDK stack has set its prefix variable
 * (in ECS), else the environment (`npm start`, tests, plain containers). Its refusals' reasons go to `log` only.
 */
export function secretsProviderFor(env: NodeJS.ProcessEnv, log: (line: string) => void): SecretsProvider {
  const backend = env[SECRET_ID_PREFIX_VARIABLE] ? secretsManagerProviderFromEnvironment(env) : createEnvSecretsProvider(env);
  return asServed(backend, log);
}

/** A backend as the origin's hosts use it: refusals' reasons in the log only, `invalidate` at most every ten seconds. */
export function asServed(backend: SecretsProvider, log: (line: string) => void, now?: () => number): SecretsProvider {
  return withReasonsInLog(withBoundedInvalidate(backend, now), log);
}
