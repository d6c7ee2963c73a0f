import type { SecretsProvider } from "./provider.ts";

/** What a caller is told when a credential cannot be read: the same words whatever the reason. */
export const UNREADABLE_CREDENTIAL = "the origin could not read a credential this server needs (its log says why)";

/**
 * The provider as everything serving MCP clients sees it: a refusal's reason (a secret's name, an AWS account and
 * role, a missing variable) is for operators and goes to the origin's log; the refusal itself says only that a
 * credential could not be read, so no MCP client, consent page or upstream error message learns how secrets are kept.
 */
export function withReasonsInLog(provider: SecretsProvider, log: (line: string) => void): SecretsProvider {
  return {
    get: (name) =>
      provider.get(name).catch((error: unknown) => {
        log(`a configured upstream credential could not be read: ${(error as Error).message}`);
        throw new Error(UNREADABLE_CREDENTIAL);
      }),
    ...(provider.invalidate && { invalidate: (name: string) => provider.invalidate?.(name) }),
  };
}
