import { z } from "zod";

/**
 * Who may use which upstream servers and tools (docs/policy.md). Without a `policy` every signed-in user may use
 * everything; with one, nothing is allowed that no rule allows, and a deny rule beats any allow rule.
 */

/** A glob over server or tool names: `*` is any run of characters, `?` one character, `{a,b}` either. */
const NameGlob = z.string().min(1).max(200);

/** Whom a rule is about: a user matches when any one of the lists names them. */
const Who = z
  .strictObject({
    /** IdP groups (Google Workspace group e-mail addresses, or the id_token's groups claim). */
    groups: z.array(z.string().min(1)).default([]),
    /** E-mail domains, such as `example.com` (the user's verified e-mail address is in one of them). */
    domains: z.array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, "expected a domain such as example.com")).default([]),
    /** Single users' e-mail addresses. */
    emails: z.array(z.email({ message: "expected an e-mail address" })).default([]),
    /** Every signed-in user. */
    everyone: z.boolean().default(false),
  })
  .refine(
    (who) => who.everyone || who.groups.length + who.domains.length + who.emails.length > 0,
    'expected at least one of "groups", "domains", "emails", or "everyone": true',
  );

/**
 * Tool annotations a rule is limited to (MCP `ToolAnnotations`). A tool that leaves one out counts with the
 * specification's default: not read-only, destructive, not idempotent, open-world: an unannotated tool is
 * treated as the riskiest kind.
 */
const Annotations = z.strictObject({
  readOnlyHint: z.boolean().optional(),
  destructiveHint: z.boolean().optional(),
  idempotentHint: z.boolean().optional(),
  openWorldHint: z.boolean().optional(),
});

/**
 * How many calls a `limit` rule lets each user make of what it covers: at most `calls` in `seconds`, the budget
 * shared by every tool the rule covers (one rule per tool gives each tool its own).
 */
export const CallLimit = z.strictObject({
  calls: z.number().int().min(1).max(1_000_000),
  seconds: z.number().int().min(1).max(86_400),
});
export type CallLimit = z.infer<typeof CallLimit>;

const PolicyRuleFields = z.strictObject({
  /** Shown in refusals and the audit trail, so say why the rule exists. */
  description: z.string().max(200).optional(),
  /**
   * `allow`, `deny`, `require_approval`: the tools the rule covers (among those another rule allows) are called
   * only after the calling user confirms each call in a prompt the gateway shows, or `limit`: they are called at
   * most as often as `limit` says, per user (docs/policy.md).
   */
  effect: z.enum(["allow", "deny", "require_approval", "limit"]),
  /** With `"effect": "limit"` only: how often. */
  limit: CallLimit.optional(),
  who: Who,
  /** Server names (globs) the rule is about. */
  servers: z.array(NameGlob).min(1),
  /** Tool names (globs) on those servers; absent: the whole server, every tool, prompt and resource. */
  tools: z.array(NameGlob).min(1).optional(),
  /** The rule is about the tools with these annotations only (for example `{ "destructiveHint": true }`). */
  annotations: Annotations.optional(),
});

export const PolicyRule = PolicyRuleFields.refine((rule) => (rule.effect === "limit") === (rule.limit !== undefined), {
  message: 'a rule with "effect": "limit" needs "limit": { "calls": N, "seconds": S }, and no other rule takes one',
  path: ["limit"],
});
export type PolicyRule = z.infer<typeof PolicyRule>;

export const Policy = z.strictObject({
  /** Evaluated together, in no particular order: allowed when an allow rule matches and no deny rule does. */
  rules: z.array(PolicyRule),
});
export type Policy = z.infer<typeof Policy>;

/** The JSON-RPC error code of a request refused by policy (in the implementation-defined server error range). */
export const POLICY_DENIED_CODE = -32003;

/** The JSON-RPC error code of a tool call over a `limit` rule's budget; its `data.retryAfterSeconds` says when to try again. */
export const CALL_LIMIT_CODE = -32008;
