import { AGGREGATED_NAME_SEPARATOR } from "../../../contract/aggregated-names.ts";
import type { Policy, PolicyRule } from "../../../contract/config/policy.ts";
import { nameMatcher } from "../../../contract/name-glob.ts";

/**
 * What the schema cannot see, each almost always a typo that would silently allow or deny nothing: a server pattern
 * that matches no configured server, a pattern that cannot be compiled (it would fail every request instead), a tool
 * written by the name the aggregated `/mcp` shows (`github__delete_repo`; rules match the upstream's own name). One line
 * per problem, naming the key.
 */
export function policyProblems(policy: Policy | undefined, servers: readonly string[]): string[] {
  if (!policy) return [];
  return policy.rules.flatMap((rule, index) => [
    ...serverProblems(rule, `policy.rules.${index}.servers`, servers),
    ...toolProblems(rule, `policy.rules.${index}.tools`, servers),
  ]);
}

function serverProblems(rule: PolicyRule, key: string, servers: readonly string[]): string[] {
  const configured = servers.join(", ") || "none";
  return rule.servers.flatMap((pattern, position) => {
    const matches = compiled(pattern);
    if (typeof matches === "string") return [`${key}.${position}: ${matches}`];
    return servers.some(matches)
      ? []
      : [`${key}.${position}: "${pattern}" matches no configured server; expected one of: ${configured}`];
  });
}

function toolProblems(rule: PolicyRule, key: string, servers: readonly string[]): string[] {
  const matchers = rule.servers.map(compiled).filter((matches) => typeof matches !== "string");
  const ruled = servers.filter((name) => matchers.some((matches) => matches(name)));
  return (rule.tools ?? []).flatMap((pattern, position) => {
    const matches = compiled(pattern);
    if (typeof matches === "string") return [`${key}.${position}: ${matches}`];
    const server = ruled.find((name) => pattern.toLowerCase().startsWith(`${name.toLowerCase()}${AGGREGATED_NAME_SEPARATOR}`));
    if (server === undefined) return [];
    const own = pattern.slice(server.length + AGGREGATED_NAME_SEPARATOR.length);
    return [
      `${key}.${position}: "${pattern}" is the name /mcp shows; rules match the upstream's own tool name: write "${own}" (the rule's servers say which server)`,
    ];
  });
}

/** The pattern's matcher, or why it cannot be compiled. */
function compiled(pattern: string): ((name: string) => boolean) | string {
  try {
    return nameMatcher(pattern);
  } catch (error) {
    return (error as Error).message;
  }
}
