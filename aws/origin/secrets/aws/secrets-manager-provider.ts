import { GetSecretValueCommand, type GetSecretValueCommandOutput, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { SecretsProvider } from "../provider.ts";

export interface SecretsManagerProviderOptions {
  /** The client to use; by default one for the task's region and credentials (the ECS task role). */
  client?: SecretsManagerClient;
  /**
   * Put in front of every name to form the secret's id, so configuration says `github-token` and the
   * origin reads `mcp-edge-proxy/upstream/github-token` (the names the CDK data stack creates).
   */
  secretIdPrefix?: string;
  /**
   * How long a value is used before Secrets Manager is asked again (default 5 minutes). A rotation
   * (a new AWSCURRENT version) reaches the origin within this time, without a restart.
   */
  refreshAfterMs?: number;
  /** The clock, for tests. */
  now?: () => number;
}

/** A Secrets Manager backend that can also be told to forget a value (e.g. after an upstream refused it). */
export interface SecretsManagerProvider extends SecretsProvider {
  /** The next `get` of this name asks Secrets Manager again. */
  invalidate(name: string): void;
}

interface Cached {
  value: string;
  fetchedAt: number;
}

export const DEFAULT_REFRESH_AFTER_MS = 5 * 60_000;

/** The variable the CDK service stack sets to the prefix of the upstream credentials it created. */
export const SECRET_ID_PREFIX_VARIABLE = "UPSTREAM_SECRETS_PREFIX";

/** The provider as the origin runs on ECS: region and credentials from the task, the prefix from the environment. */
export function secretsManagerProviderFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  options: Omit<SecretsManagerProviderOptions, "secretIdPrefix"> = {},
): SecretsManagerProvider {
  return createSecretsManagerProvider({ ...options, secretIdPrefix: env[SECRET_ID_PREFIX_VARIABLE] ?? "" });
}

/**
 * Upstream credentials from AWS Secrets Manager, cached per name. After `refreshAfterMs` the next read asks
 * again and takes the current version, so a rotated secret is used without a restart. Simultaneous reads of
 * one name share one request. If Secrets Manager cannot be reached when a cached value is due, the cached
 * value keeps being served (an outage of the API must not take every upstream down) and the next read retries.
 */
export function createSecretsManagerProvider(options: SecretsManagerProviderOptions = {}): SecretsManagerProvider {
  const client = options.client ?? new SecretsManagerClient({});
  const prefix = options.secretIdPrefix ?? "";
  const refreshAfterMs = options.refreshAfterMs ?? DEFAULT_REFRESH_AFTER_MS;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Cached>();
  const inFlight = new Map<string, Promise<string>>();

  const fetchValue = async (name: string): Promise<string> => {
    const secretId = `${prefix}${name}`;
    const stale = cache.get(name);
    let answer: GetSecretValueCommandOutput;
    try {
      answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    } catch (error) {
      if (stale) return stale.value;
      throw new Error(
        `secret "${name}" (Secrets Manager id ${secretId}) could not be read: ${describeSecretsManagerError(error)}`,
        {
          cause: error,
        },
      );
    }
    if (typeof answer.SecretString !== "string") {
      throw new Error(
        `secret "${name}" (Secrets Manager id ${secretId}) holds no text value: store it as a string (SecretString), not binary`,
      );
    }
    cache.set(name, { value: answer.SecretString, fetchedAt: now() });
    return answer.SecretString;
  };

  return {
    get(name) {
      const cached = cache.get(name);
      if (cached && now() - cached.fetchedAt < refreshAfterMs) return Promise.resolve(cached.value);
      let pending = inFlight.get(name);
      if (!pending) {
        pending = fetchValue(name).finally(() => inFlight.delete(name));
        inFlight.set(name, pending);
      }
      return pending;
    },
    invalidate(name) {
      const cached = cache.get(name);
      // Keep the value for stale-on-error, but make it due now.
      if (cached) cache.set(name, { ...cached, fetchedAt: Number.NEGATIVE_INFINITY });
    },
  };
}

/** The AWS error's name and message (they never contain the secret's value), with what usually fixes it. */
export function describeSecretsManagerError(error: unknown): string {
  const name = (error as { name?: string }).name ?? "Error";
  const message = (error as Error).message ?? String(error);
  const hints: Record<string, string> = {
    ResourceNotFoundException: "create it, or check the name and the secret id prefix",
    AccessDeniedException:
      "grant the origin's task role secretsmanager:GetSecretValue on it (the CDK stack does for the secrets it creates)",
    DecryptionFailure: "grant the task role kms:Decrypt on the secret's KMS key",
  };
  return `${name}: ${message}${hints[name] ? ` (${hints[name]})` : ""}`;
}
