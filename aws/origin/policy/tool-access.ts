import { ProtocolError } from "@modelcontextprotocol/server";
import { POLICY_DENIED_CODE } from "../../../contract/config/policy.ts";
import type { Decision, LimitingRule, ToolFacts, UserPolicy } from "./user-policy.ts";

/** What one user may do with the tools of one server: the policy, bound to both. */
export type ToolAccess = (tool: ToolFacts) => Decision;

export const toolAccess =
  (policy: UserPolicy, server: string): ToolAccess =>
  (tool) =>
    policy.tool(server, tool);

/** A `tools/list` result with only the tools the caller may call: a user never sees what they cannot use. */
export function visibleTools<R extends { tools?: unknown }>(result: R, access: ToolAccess | undefined): R {
  if (!access || !Array.isArray(result.tools)) return result;
  const tools = (result.tools as ToolFacts[]).filter((tool) => typeof tool?.name === "string" && access(tool).allowed);
  return { ...result, tools };
}

/**
 * Refuses, before it reaches the upstream, a call the policy does not allow (the error says it is policy); else
 * what the policy asks of the call: the rule that has the user confirm it first, and the rules that limit how often.
 */
export function requireToolAllowed(
  access: ToolAccess | undefined,
  tool: ToolFacts,
): { approval?: string; limits?: readonly LimitingRule[] } {
  const decision = access?.(tool);
  if (decision && !decision.allowed) throw new PolicyRefusal(decision.reason);
  return { approval: decision?.approval, limits: decision?.limits };
}

/** A request refused by policy: JSON-RPC error -32003, whose message names the rule or its absence. */
export class PolicyRefusal extends ProtocolError {
  constructor(reason: string) {
    super(POLICY_DENIED_CODE, `refused by policy: ${reason}`);
    this.name = "PolicyRefusal";
  }
}
