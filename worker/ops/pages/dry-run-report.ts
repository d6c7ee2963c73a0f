import { DRY_RUN_DIRECTIONS, type DryRunReport } from "../../../contract/ops-trust.ts";
import { escapeHtml } from "../../auth/html.ts";
import { formatCount, formatTime } from "./format.ts";
import { type Column, table } from "./tables.ts";

type Change = DryRunReport["changes"][number];

// The report's sections in the CLI's order, with its titles and words (contract/ops-trust.ts).
const DIRECTIONS = DRY_RUN_DIRECTIONS;
const ORDER = Object.keys(DIRECTIONS) as Change["direction"][];

const plural = (count: number, one: string) => `${formatCount(count)} ${count === 1 ? one : `${one}s`}`;
const callsOf = (changes: readonly Change[]) => changes.reduce((sum, change) => sum + change.calls, 0);

const CHANGE_COLUMNS: Column<Change>[] = [
  { heading: "User", cell: (change) => change.user },
  { heading: "Server", cell: (change) => change.server },
  { heading: "Tool", cell: (change) => (change.approvedDefinition ? change.tool : `${change.tool} *`) },
  { heading: "Calls", cell: (change) => formatCount(change.calls), numeric: true },
  { heading: "Now", cell: (change) => change.current },
  { heading: "With the candidate", cell: (change) => change.candidate },
];

/** The dry run's report: the summary, one table per direction of change, then what the evaluation had to assume. */
export function dryRunReportHtml(report: DryRunReport): string {
  const tables = ORDER.flatMap((direction) => {
    const changes = report.changes.filter((change) => change.direction === direction);
    if (changes.length === 0) return [];
    const caption = `${DIRECTIONS[direction].title} (${plural(changes.length, "decision")}, ${plural(callsOf(changes), "call")})`;
    return [table(caption, CHANGE_COLUMNS, changes)];
  });
  const unpinnedNote = report.changes.some((change) => !change.approvedDefinition)
    ? '<p class="note">* no approved definition: evaluated with the specification\'s default annotations.</p>'
    : "";
  const { window } = report;
  return `<section aria-labelledby="report" class="report"><h2 id="report">Report</h2>
<p class="summary" role="status">${escapeHtml(summary(report))}</p>
<p class="note">Evaluated ${plural(report.calls, "call")} by ${plural(report.users, "user")} from ${escapeHtml(formatTime(window.from))} to ${escapeHtml(formatTime(window.to))} UTC (${plural(window.days, "day")}); current: ${escapeHtml(report.current)}.</p>
${tables.join("\n")}${unpinnedNote}${caveats(report)}</section>`;
}

function summary(report: DryRunReport): string {
  if (report.changes.length === 0) return "No decision would change.";
  const users = new Set(report.changes.map((change) => change.user)).size;
  const parts = ORDER.flatMap((direction) => {
    const changes = report.changes.filter((change) => change.direction === direction);
    return changes.length === 0 ? [] : [`${changes.length} ${DIRECTIONS[direction].arrow} (${plural(callsOf(changes), "call")})`];
  });
  return `${plural(report.changes.length, "decision")} would change for ${plural(users, "user")}: ${parts.join(", ")}.`;
}

/** What the evaluation could not know, so that a reader knows how far to trust it; each list only when it has items. */
function caveats(report: DryRunReport): string {
  const lists: [string, string[]][] = [
    ["Users evaluated without groups (the Directory knew none)", report.usersWithoutGroups],
    ["Group look-ups that failed", report.groupLookUpFailures.map(({ user, error }) => `${user}: ${error}`)],
    [
      "Tools without an approved definition (evaluated with default annotations)",
      report.toolsWithoutApprovedDefinition.map(({ server, tool }) => `${server}: ${tool}`),
    ],
    [
      "Not evaluated: shortened aggregated names that no approved definition resolves",
      report.unresolved.map(({ user, server, tool, calls }) => `${user}, ${server}: ${tool} (${plural(calls, "call")})`),
    ],
  ];
  return lists
    .filter(([, items]) => items.length > 0)
    .map(
      ([title, items]) =>
        `<h3>${escapeHtml(title)} (${items.length})</h3><ul>${items.map((item) => `<li>${escapeHtml(item)}</li>`).join("")}</ul>`,
    )
    .join("\n");
}
