import type { CallLimit, Policy, PolicyRule } from "../../../contract/config/policy.ts";
import { domainOfEmail } from "../../../contract/email-domain.ts";
import { nameMatcher } from "../../../contract/name-glob.ts";
import { type AnnotationName, annotationValue } from "./annotations.ts";

/** The user a decision is about, as the edge assertion names them. */
export interface PolicySubject {
  email?: string;
  groups?: readonly string[];
}

/** A tool as the policy sees it: its name and its annotations (from the upstream's `tools/list`). */
export interface ToolFacts {
  name: string;
  annotations?: Record<string, unknown>;
}

/** A `limit` rule as it applies to one call: which rule (its budget is its own), and how often. */
export interface LimitingRule extends CallLimit {
  /** The rule's place in the policy, which keys its budget. */
  index: number;
  label: string;
}

/**
 * Allowed (each call first confirmed by the user when `approval` names the rule that asks for it, and counted
 * against the budget of each rule in `limits`), or refused.
 */
export type Decision = { allowed: true; approval?: string; limits?: LimitingRule[] } | { allowed: false; reason: string };

/** What one user may use. */
export interface UserPolicy {
  /** May the user use the server at all (reach it, list its tools, call the tools they may)? */
  server(server: string): Decision;
  /**
   * May the user list and read the server's prompts and resources (and complete their arguments)? Only a rule that
   * allows the whole server (no `tools`, no `annotations`) grants them: a rule naming some tools grants those tools.
   */
  contents(server: string): Decision;
  /** May the user see and call this tool? */
  tool(server: string, tool: ToolFacts): Decision;
}

const ALLOWED: Decision = { allowed: true };

/** Without a policy every signed-in user may use everything. */
const EVERYTHING: UserPolicy = { server: () => ALLOWED, contents: () => ALLOWED, tool: () => ALLOWED };

interface CompiledRule {
  rule: PolicyRule;
  index: number;
  server: (name: string) => boolean;
  tool?: (name: string) => boolean;
  label: string;
}

const compiled = new WeakMap<Policy, CompiledRule[]>();

function compile(policy: Policy): CompiledRule[] {
  let rules = compiled.get(policy);
  if (!rules) {
    rules = policy.rules.map((rule, index) => ({
      rule,
      index,
      server: nameMatcher(rule.servers),
      tool: rule.tools && nameMatcher(rule.tools),
      label: rule.description ? `rule ${index + 1} ("${rule.description}")` : `rule ${index + 1}`,
    }));
    compiled.set(policy, rules);
  }
  return rules;
}

/**
 * The policy as it applies to one user. A server is usable when an allow rule names it and no deny rule takes the
 * whole server away; a tool, when its server is usable, an allow rule covers it and no deny rule does.
 */
export function userPolicy(policy: Policy | undefined, subject: PolicySubject): UserPolicy {
  if (!policy) return EVERYTHING;
  const mine = compile(policy).filter(({ rule }) => concerns(rule, subject));
  const allows = mine.filter(({ rule }) => rule.effect === "allow");
  const denies = mine.filter(({ rule }) => rule.effect === "deny");
  const approvals = mine.filter(({ rule }) => rule.effect === "require_approval");
  const limits = mine.filter(({ rule }) => rule.effect === "limit");

  const server = (name: string): Decision => {
    const deniedBy = denies.find((rule) => rule.server(name) && wholeServer(rule));
    if (deniedBy) return { allowed: false, reason: `server "${name}" is denied to you by policy ${deniedBy.label}` };
    if (allows.some((rule) => rule.server(name))) return ALLOWED;
    return { allowed: false, reason: `no policy rule allows you to use server "${name}"` };
  };
  return {
    server,
    contents(name) {
      const whole = server(name);
      if (!whole.allowed || allows.some((rule) => rule.server(name) && wholeServer(rule))) return whole;
      return {
        allowed: false,
        reason: `the rules that allow you server "${name}" name only some of its tools; its prompts and resources need an allow rule without "tools" and "annotations"`,
      };
    },
    tool(serverName, tool) {
      const whole = server(serverName);
      if (!whole.allowed) return whole;
      const deniedBy = denies.find((rule) => covers(rule, serverName, tool));
      if (deniedBy) return { allowed: false, reason: `tool "${tool.name}" is denied to you by policy ${deniedBy.label}` };
      if (!allows.some((rule) => covers(rule, serverName, tool))) {
        return { allowed: false, reason: `no policy rule allows you to use tool "${tool.name}" on server "${serverName}"` };
      }
      const asking = approvals.find((rule) => covers(rule, serverName, tool));
      const limiting = limits.filter((rule) => covers(rule, serverName, tool)).map(limitingRule);
      if (!asking && limiting.length === 0) return ALLOWED;
      return { allowed: true, approval: asking?.label, limits: limiting.length > 0 ? limiting : undefined };
    },
  };
}

/** A rule about the server itself, not about some of its tools. */
const wholeServer = ({ tool, rule }: CompiledRule): boolean => !tool && !rule.annotations;

const limitingRule = ({ rule, index, label }: CompiledRule): LimitingRule => ({
  index,
  label,
  ...(rule.limit as CallLimit),
});

function covers(compiledRule: CompiledRule, server: string, tool: ToolFacts): boolean {
  const { rule } = compiledRule;
  if (!compiledRule.server(server)) return false;
  if (compiledRule.tool && !compiledRule.tool(tool.name)) return false;
  const wanted = Object.entries(rule.annotations ?? {}) as [AnnotationName, boolean | undefined][];
  return wanted.every(([name, value]) => value === undefined || annotationValue(tool.annotations, name) === value);
}

/**
 * Does the rule's `who` name this user? E-mail addresses, domains and groups compare without case: Google's Directory
 * gives groups in lower case, so a rule naming `Contractors@corp.com` must still match (a deny rule that silently
 * never matched would fail open).
 */
function concerns(rule: PolicyRule, subject: PolicySubject): boolean {
  const { who } = rule;
  if (who.everyone) return true;
  const email = subject.email?.toLowerCase();
  const domain = domainOfEmail(email);
  const groups = subject.groups?.map((group) => group.toLowerCase()) ?? [];
  return (
    (email !== undefined && who.emails.some((address) => address.toLowerCase() === email)) ||
    (domain !== undefined && who.domains.some((name) => name.toLowerCase() === domain)) ||
    who.groups.some((group) => groups.includes(group.toLowerCase()))
  );
}
