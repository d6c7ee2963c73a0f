import type pg from "pg";
import type { Policy } from "../../../../contract/config/policy.ts";
import type { GroupLookUp } from "../../identity/google/google-groups.ts";
import { readApprovedTools } from "./approved-tools.ts";
import { type Evaluation, evaluate } from "./evaluate.ts";
import { readRecordedCalls } from "./recorded-calls.ts";
import { upstreamToolNames } from "./tool-names.ts";
import { type KnownGroups, type ResolvedGroups, resolveGroups } from "./user-groups.ts";

export interface DryRunOptions {
  candidate: { label: string; policy: Policy | undefined };
  current: { label: string; policy: Policy | undefined };
  days: number;
  groupsFromFile: KnownGroups;
  /** The origin's Google Workspace look-up, when its configuration has one. */
  directory?: GroupLookUp;
  progress: (message: string) => void;
  now?: Date;
}

export interface DryRunReport extends Evaluation {
  window: { days: number; from: string; to: string };
  candidate: string;
  current: string;
  groupLookUpFailures: ResolvedGroups["failures"];
}

const DAY_MS = 86_400_000;

/** The candidate and the current policy on the last `days` days of recorded tool calls: which decisions change. */
export async function dryRun(pool: pg.Pool, options: DryRunOptions): Promise<DryRunReport> {
  const to = options.now ?? new Date();
  const from = new Date(to.getTime() - options.days * DAY_MS);
  const recorded = await readRecordedCalls(pool, { from, to }, options.progress);
  const approved = await readApprovedTools(pool);
  const emails = recorded.flatMap((calls) => (calls.userEmail ? [calls.userEmail] : []));
  // Groups matter only to rules that name groups: without such a rule no Directory look-up is worth its cost.
  const directory = namesGroups(options.current.policy) || namesGroups(options.candidate.policy) ? options.directory : undefined;
  const { groups, failures } = await resolveGroups(emails, options.groupsFromFile, directory, options.progress);
  const evaluation = evaluate({
    recorded,
    current: options.current.policy,
    candidate: options.candidate.policy,
    groups,
    approved,
    upstreamName: upstreamToolNames(approved),
  });
  return {
    window: { days: options.days, from: from.toISOString(), to: to.toISOString() },
    candidate: options.candidate.label,
    current: options.current.label,
    ...evaluation,
    groupLookUpFailures: failures,
  };
}

const namesGroups = (policy: Policy | undefined) => policy?.rules.some((rule) => rule.who.groups.length > 0) ?? false;
