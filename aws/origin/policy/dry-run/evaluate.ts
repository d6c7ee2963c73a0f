import type { Policy } from "../../../../contract/config/policy.ts";
import { type PolicySubject, type ToolFacts, userPolicy } from "../user-policy.ts";
import type { ApprovedTools } from "./approved-tools.ts";
import { explainDecision } from "./explain-decision.ts";
import type { RecordedCalls } from "./recorded-calls.ts";
import type { UpstreamName } from "./tool-names.ts";
import type { KnownGroups } from "./user-groups.ts";

/** What a policy does with a call: refuse it, run it after the user confirms it (require_approval), or run it. */
export type CallState = "denied" | "approval" | "allowed";
/** A change of state (never a state to itself). */
export type Direction = Exclude<
  `${CallState}_to_${CallState}`,
  "denied_to_denied" | "approval_to_approval" | "allowed_to_allowed"
>;

function stateOf(policy: Policy | undefined, subject: PolicySubject, server: string, facts: ToolFacts): CallState {
  const decision = userPolicy(policy, subject).tool(server, facts);
  return !decision.allowed ? "denied" : decision.approval ? "approval" : "allowed";
}

/** One user's calls of one tool whose decision the candidate changes. */
export interface DecisionChange {
  user: string;
  server: string;
  /** The upstream's own name, as the policy sees it. */
  tool: string;
  direction: Direction;
  calls: number;
  /** The current policy's decision in words (the rule that decides, or the evaluator's refusal). */
  current: string;
  candidate: string;
  /** False: no approved definition, so the tool was evaluated with the specification's default annotations. */
  approvedDefinition: boolean;
}

export interface Evaluation {
  /** Calls evaluated (not counting unresolved ones). */
  calls: number;
  users: number;
  changes: DecisionChange[];
  /** Users evaluated without any group: neither the groups file nor the Directory knew one. */
  usersWithoutGroups: string[];
  /** Tools evaluated with default annotations because no definition of theirs is approved. */
  toolsWithoutApprovedDefinition: { server: string; tool: string }[];
  /** Calls of shortened aggregated names that no approved definition resolves: not evaluated. */
  unresolved: { user: string; server: string; tool: string; calls: number }[];
}

export interface EvaluationInput {
  recorded: readonly RecordedCalls[];
  current: Policy | undefined;
  candidate: Policy | undefined;
  groups: KnownGroups;
  approved: ApprovedTools;
  upstreamName: (server: string, called: string) => UpstreamName;
}

/** Who the audit trail says called: the e-mail the policy reads, else the subject. */
export const userOf = (calls: RecordedCalls): string =>
  calls.userEmail?.toLowerCase() ?? (calls.userSub ? `subject ${calls.userSub}` : "unknown user");

interface UserToolCalls {
  user: string;
  subject: PolicySubject;
  server: string;
  tool: string;
  calls: number;
}

/** Both policies' decisions on every user's recorded calls; the changes, most calls first. */
export function evaluate(input: EvaluationInput): Evaluation {
  const { merged, unresolved } = byUpstreamTool(input);
  const changes: DecisionChange[] = [];
  const withoutDefinition = new Map<string, { server: string; tool: string }>();
  for (const entry of merged) {
    const change = decisionChange(entry, input);
    if (change) changes.push(change);
    if (!input.approved.get(entry.server)?.has(entry.tool)) {
      withoutDefinition.set(JSON.stringify([entry.server, entry.tool]), { server: entry.server, tool: entry.tool });
    }
  }
  const users = new Map(merged.map(({ user, subject }) => [user, subject]));
  return {
    calls: merged.reduce((sum, entry) => sum + entry.calls, 0),
    users: users.size,
    changes: changes.sort((a, b) => b.calls - a.calls || a.user.localeCompare(b.user) || a.tool.localeCompare(b.tool)),
    usersWithoutGroups: [...users]
      .filter(([, subject]) => !subject.groups?.length)
      .map(([user]) => user)
      .sort(),
    toolsWithoutApprovedDefinition: [...withoutDefinition.values()].sort(
      (a, b) => a.server.localeCompare(b.server) || a.tool.localeCompare(b.tool),
    ),
    unresolved,
  };
}

/** The recorded calls under the upstream's own tool names: one tool called through both endpoints is one decision. */
function byUpstreamTool(input: EvaluationInput): { merged: UserToolCalls[]; unresolved: Evaluation["unresolved"] } {
  const merged = new Map<string, UserToolCalls>();
  const unresolved: Evaluation["unresolved"] = [];
  for (const recorded of input.recorded) {
    const user = userOf(recorded);
    const { server } = recorded;
    const upstream = input.upstreamName(server, recorded.tool);
    if ("unresolved" in upstream) {
      unresolved.push({ user, server, tool: recorded.tool, calls: recorded.calls });
      continue;
    }
    const key = JSON.stringify([user, server, upstream.name]);
    const entry = merged.get(key) ?? { user, subject: subjectOf(recorded, input.groups), server, tool: upstream.name, calls: 0 };
    entry.calls += recorded.calls;
    merged.set(key, entry);
  }
  return { merged: [...merged.values()], unresolved };
}

function decisionChange(entry: UserToolCalls, input: EvaluationInput): DecisionChange | undefined {
  const { user, subject, server, tool, calls } = entry;
  const definitions = input.approved.get(server);
  const facts: ToolFacts = { name: tool, annotations: definitions?.get(tool) };
  const before = stateOf(input.current, subject, server, facts);
  const after = stateOf(input.candidate, subject, server, facts);
  if (before === after) return undefined;
  return {
    user,
    server,
    tool,
    direction: `${before}_to_${after}` as Direction,
    calls,
    current: explainDecision(input.current, subject, server, facts),
    candidate: explainDecision(input.candidate, subject, server, facts),
    approvedDefinition: definitions?.has(tool) ?? false,
  };
}

function subjectOf(recorded: RecordedCalls, groups: KnownGroups): PolicySubject {
  const email = recorded.userEmail?.toLowerCase();
  return email === undefined ? { groups: [] } : { email, groups: groups.get(email) ?? [] };
}
