import type { Policy } from "../../../contract/config/policy.ts";
import { nameMatcher } from "../../../contract/name-glob.ts";

/**
 * What the schema cannot see: a rule whose server pattern matches no configured server is almost always a typo
 * that would silently allow or deny nothing. One line per problem, naming the key.
 */
export function policyProblems(policy: Policy | undefined, servers: readonly string[]): string[] {
  if (!policy) return [];
  const configured = servers.join(", ") || "none";
  return policy.rules.flatMap((rule, index) =>
    rule.servers
      .map((pattern, position) => ({ pattern, position }))
      .filter(({ pattern }) => !servers.some(nameMatcher(pattern)))
      .map(
        ({ pattern, position }) =>
          `policy.rules.${index}.servers.${position}: "${pattern}" matches no configured server; expected one of: ${configured}`,
      ),
  );
}
