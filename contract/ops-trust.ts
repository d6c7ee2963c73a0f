import { z } from "zod";

/**
 * The ops dashboard's trust controls, as the origin answers them to the edge (each behind an edge assertion with
 * `purpose: "ops"`): pinned definitions that wait for a decision, the decision itself, and the policy dry run.
 */

/** GET: what waits for a decision, each beside the definition approved before it. */
export const OPS_PINS_PATH = "/ops/pins";
/** POST: approve or reject one waiting definition; the assertion's e-mail is who decided. */
export const OPS_PIN_DECISION_PATH = "/ops/pins/decide";
/** POST: a candidate policy against the last days of audited tool calls (the same evaluation as `npm run policy`). */
export const OPS_DRY_RUN_PATH = "/ops/policy/dry-run";

/** The days a dry run may read, as the CLI's `--days`. */
export const DRY_RUN_MAX_DAYS = 3650;
export const DRY_RUN_DEFAULT_DAYS = 7;

export const DEFINITION_KINDS = ["tool", "prompt", "resource", "resource_template", "discovery"] as const;
const DefinitionKind = z.enum(DEFINITION_KINDS);
export type DefinitionKind = z.infer<typeof DefinitionKind>;
export const isDefinitionKind = (kind: string): kind is DefinitionKind => (DEFINITION_KINDS as readonly string[]).includes(kind);

/**
 * Read by an edge that may be older than the origin (the AWS tier is deployed first): what the edge only shows is
 * read leniently, so a kind or change a later origin adds (as `resource` was) is shown as sent instead of failing the
 * whole list, and with it every decision. What the edge sends back (PinDecisionRequest) stays strict.
 */
export const WaitingDefinitions = z.object({
  waiting: z.array(
    z.object({
      server: z.string(),
      /** One of DEFINITION_KINDS, or a kind of a later release that this edge cannot decide (isDefinitionKind). */
      kind: z.string(),
      name: z.string(),
      change: z.string(),
      fingerprint: z.string(),
      approvedFingerprint: z.string().nullable(),
      firstSeen: z.string(),
      /** The approved definition (left, empty when new) beside the waiting one (right), line by line. */
      rows: z.array(
        // A mark this edge does not know is shown as a changed line.
        z.object({ left: z.string(), mark: z.enum([" ", "<", ">", "|"]).catch("|"), right: z.string() }),
      ),
    }),
  ),
});
export type WaitingDefinitions = z.infer<typeof WaitingDefinitions>;

export const PinDecisionRequest = z.strictObject({
  server: z.string().min(1),
  kind: DefinitionKind,
  name: z.string(),
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/, "expected the waiting definition's SHA-256 fingerprint"),
  decision: z.enum(["approve", "reject"]),
});
export type PinDecisionRequest = z.infer<typeof PinDecisionRequest>;

export const DryRunRequest = z.strictObject({
  /** The candidate policy as the administrator typed it: JSON text of `{ "rules": [...] }`. */
  candidate: z.string().max(200_000),
  days: z.number().int().min(1).max(DRY_RUN_MAX_DAYS),
});
export type DryRunRequest = z.infer<typeof DryRunRequest>;

/** A candidate the origin refused (400 `invalid_candidate`): one line per problem, each naming the key that is wrong. */
export const DryRunRefusal = z.object({ error: z.literal("invalid_candidate"), problems: z.array(z.string()) });

/**
 * Each direction a dry run's decision can change (a call denied, allowed after the user confirms it, or allowed), in
 * the order reports show them: its table's title and its words in the summary. The CLI's text and /ops read this one.
 */
export const DRY_RUN_DIRECTIONS = {
  allowed_to_denied: { title: "Allowed now, denied by the candidate", arrow: "allowed → denied" },
  approval_to_denied: { title: "Allowed after confirmation now, denied by the candidate", arrow: "confirmed → denied" },
  allowed_to_approval: { title: "Allowed now, to be confirmed by the user with the candidate", arrow: "allowed → confirmed" },
  denied_to_allowed: { title: "Denied now, allowed by the candidate", arrow: "denied → allowed" },
  denied_to_approval: { title: "Denied now, allowed after confirmation by the candidate", arrow: "denied → confirmed" },
  approval_to_allowed: {
    title: "Allowed after confirmation now, allowed without it by the candidate",
    arrow: "confirmed → allowed",
  },
} as const;
export type DryRunDirection = keyof typeof DRY_RUN_DIRECTIONS;
const Direction = z.enum(Object.keys(DRY_RUN_DIRECTIONS) as [DryRunDirection, ...DryRunDirection[]]);
const ToolCalls = z.object({ user: z.string(), server: z.string(), tool: z.string(), calls: z.number() });

/** The dry run's report, as `npm run policy -- dry-run --format json` writes it. */
export const DryRunReport = z.object({
  window: z.object({ days: z.number(), from: z.string(), to: z.string() }),
  candidate: z.string(),
  current: z.string(),
  calls: z.number(),
  users: z.number(),
  changes: z.array(
    ToolCalls.extend({ direction: Direction, current: z.string(), candidate: z.string(), approvedDefinition: z.boolean() }),
  ),
  usersWithoutGroups: z.array(z.string()),
  groupLookUpFailures: z.array(z.object({ user: z.string(), error: z.string() })),
  toolsWithoutApprovedDefinition: z.array(z.object({ server: z.string(), tool: z.string() })),
  unresolved: z.array(ToolCalls),
});
export type DryRunReport = z.infer<typeof DryRunReport>;
