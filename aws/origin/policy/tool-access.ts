import { ProtocolError } from "@modelcontextprotocol/server";
import { POLICY_DENIED_CODE } from "../../../contract/config/policy.ts";
import type { Decision, LimitingRule, ToolFacts, UserPolicy } from "./user-policy.ts";

/** What one user may do with the tools of one server. */
export type ToolAccess = (tool: ToolFacts) => Decision;

/** What one user may do with one server: the policy, bound to both. */
export interface ServerAccess {
  tool: ToolAccess;
  /** Its prompts and resources (UserPolicy.contents). */
  contents: Decision;
}

export const serverAccess = (policy: UserPolicy, server: string): ServerAccess => ({
  tool: (tool) => policy.tool(server, tool),
  contents: policy.contents(server),
});

/** The methods that list a server's prompts and resources, and the field of their (empty) answer to a user who may not see them. */
const CONTENT_LISTS: Readonly<Record<string, string>> = {
  "prompts/list": "prompts",
  "resources/list": "resources",
  "resources/templates/list": "resourceTemplates",
};
/** The methods that read them (a completion completes a prompt's or a resource template's argument). */
const CONTENT_READS: ReadonlySet<string> = new Set(["prompts/get", "resources/read", "completion/complete"]);

/**
 * What a user who may not see the server's prompts and resources gets instead of the upstream's answer: an empty list,
 * or a refusal (thrown) for a read. Undefined when the request may go upstream.
 */
export function withheldContents(access: ServerAccess | undefined, method: string): Record<string, unknown> | undefined {
  const decision = access?.contents;
  if (!decision || decision.allowed) return undefined;
  if (CONTENT_READS.has(method)) throw new PolicyRefusal(decision.reason);
  const list = CONTENT_LISTS[method];
  return list === undefined ? undefined : { [list]: [] };
}

/**
 * A `subscriptions/listen` without its resource subscriptions for a user who may not see the server's resources: as
 * their lists are empty, the set they watch is; neither the upstream is asked to watch those URIs nor the user told
 * when they change. Any other body as it came.
 */
export function listenWithinContents(body: unknown, access: ServerAccess | undefined): unknown {
  if (!access || access.contents.allowed) return body;
  const message = body as { method?: unknown; params?: { notifications?: Record<string, unknown> } } | undefined;
  const notifications = message?.method === "subscriptions/listen" ? message.params?.notifications : undefined;
  if (!notifications?.resourceSubscriptions) return body;
  return { ...message, params: { ...message?.params, notifications: { ...notifications, resourceSubscriptions: [] } } };
}

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
