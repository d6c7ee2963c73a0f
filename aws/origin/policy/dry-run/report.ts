import { DRY_RUN_DIRECTIONS } from "../../../../contract/ops-trust.ts";
import type { DryRunReport } from "./dry-run.ts";
import type { DecisionChange, Direction } from "./evaluate.ts";
import { textTable } from "./text-table.ts";

export const REPORT_FORMATS = ["text", "json"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function formatReport(report: DryRunReport, format: ReportFormat): string {
  return format === "json" ? `${JSON.stringify(report, null, 2)}\n` : `${textReport(report).join("\n")}\n`;
}

/** Each direction of change, in the order the report shows them (shared with /ops): its title and its words. */
const DIRECTIONS: Record<Direction, { title: string; arrow: string }> = DRY_RUN_DIRECTIONS;
const ORDER = Object.keys(DIRECTIONS) as Direction[];

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
const callsOf = (changes: readonly DecisionChange[]) => changes.reduce((sum, change) => sum + change.calls, 0);

/** For a security engineer: the summary first, then one table per direction, then what the evaluation could not know. */
function textReport(report: DryRunReport): string[] {
  const byDirection = (direction: Direction) => report.changes.filter((change) => change.direction === direction);
  const lines = [summaryLine(report), ...context(report)];
  for (const direction of ORDER) {
    const changes = byDirection(direction);
    if (changes.length === 0) continue;
    lines.push("", `${DIRECTIONS[direction].title} (${plural(changes.length, "decision")}, ${plural(callsOf(changes), "call")})`);
    lines.push(
      ...textTable(
        ["user", "server", "tool", "calls", "now", "with the candidate"],
        changes.map((change) => [
          change.user,
          change.server,
          change.approvedDefinition ? change.tool : `${change.tool} *`,
          String(change.calls),
          change.current,
          change.candidate,
        ]),
      ),
    );
  }
  if (report.changes.some((change) => !change.approvedDefinition)) {
    lines.push("", "* no approved definition: evaluated with the specification's default annotations (docs/pinning.md)");
  }
  return [...lines, ...caveats(report)];
}

function summaryLine(report: DryRunReport): string {
  if (report.changes.length === 0) return "policy dry run: no decision would change";
  const users = new Set(report.changes.map((change) => change.user)).size;
  const parts = ORDER.flatMap((direction) => {
    const changes = report.changes.filter((change) => change.direction === direction);
    return changes.length === 0 ? [] : [`${changes.length} ${DIRECTIONS[direction].arrow} (${plural(callsOf(changes), "call")})`];
  });
  return `policy dry run: ${plural(report.changes.length, "decision")} would change for ${plural(users, "user")}: ${parts.join(", ")}`;
}

function context(report: DryRunReport): string[] {
  const { window } = report;
  return [
    `evaluated ${plural(report.calls, "call")} by ${plural(report.users, "user")} from ${window.from} to ${window.to} (${plural(window.days, "day")})`,
    `candidate: ${report.candidate}`,
    `current:   ${report.current}`,
  ];
}

/** What the evaluation had to assume, so that a reader knows how far to trust it. */
function caveats(report: DryRunReport): string[] {
  const lines: string[] = [];
  const section = (title: string, items: readonly string[]) => {
    if (items.length > 0) lines.push("", `${title} (${items.length}):`, ...items.map((item) => `  ${item}`));
  };
  section("Users evaluated without groups (neither --groups nor the Directory knew one)", report.usersWithoutGroups);
  section(
    "Group look-ups that failed (evaluated with the --groups file's groups only)",
    report.groupLookUpFailures.map(({ user, error }) => `${user}: ${error}`),
  );
  section(
    "Tools without an approved definition (evaluated with default annotations)",
    report.toolsWithoutApprovedDefinition.map(({ server, tool }) => `${server}  ${tool}`),
  );
  section(
    "Not evaluated: shortened aggregated names that no approved definition resolves",
    report.unresolved.map(({ user, server, tool, calls }) => `${user}  ${server}  ${tool}  ${plural(calls, "call")}  unresolved`),
  );
  return lines;
}
