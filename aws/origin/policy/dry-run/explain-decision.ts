import type { Policy, PolicyRule } from "../../../../contract/config/policy.ts";
import { type PolicySubject, type ToolFacts, userPolicy } from "../user-policy.ts";

// Each rule as a policy of its own, made once: asking the evaluator about one rule at a time finds the rule that
// allows, in the evaluator's own terms, where its answer only says "allowed".
const alone = new WeakMap<PolicyRule, Policy>();
const policyOf = (rule: PolicyRule): Policy => {
  const policy = alone.get(rule) ?? { rules: [rule] };
  alone.set(rule, policy);
  return policy;
};

/**
 * A decision in words: a refusal as the evaluator words it (the text users and the audit trail see), an allowed call
 * with the first allow rule that covers it, labelled as the evaluator labels rules.
 */
export function explainDecision(policy: Policy | undefined, subject: PolicySubject, server: string, tool: ToolFacts): string {
  const decision = userPolicy(policy, subject).tool(server, tool);
  if (!decision.allowed) return decision.reason;
  if (!policy) return "allowed: no policy";
  const index = policy.rules.findIndex(
    (rule) => rule.effect === "allow" && userPolicy(policyOf(rule), subject).tool(server, tool).allowed,
  );
  const rule = policy.rules[index];
  const allowed = `allowed by policy rule ${index + 1}${rule?.description ? ` ("${rule.description}")` : ""}`;
  return decision.approval ? `${allowed}, each call confirmed by the user (${decision.approval})` : allowed;
}
