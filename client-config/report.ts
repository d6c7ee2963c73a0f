import type { Outcome, Status } from "./apply.ts";
import { type Places, resolve } from "./locations.ts";

export interface ReportContext {
  readonly mode: "write" | "remove";
  readonly dryRun: boolean;
  readonly proxySet: boolean;
}

/** One line per client and file, then what the user should know about that client. */
export function report(outcomes: readonly Outcome[], context: ReportContext): string[] {
  const lines: string[] = [];
  const idWidth = Math.max(...outcomes.map((outcome) => outcome.client.id.length), 6);
  for (const outcome of outcomes) {
    const status = wording(outcome.status, context.dryRun);
    lines.push(`  ${outcome.client.id.padEnd(idWidth)}  ${status.padEnd(16)} ${outcome.file}`);
    const notes = [outcome.detail];
    const isEntryFile = outcomes.find((other) => other.client === outcome.client) === outcome;
    if (isEntryFile && context.mode === "write" && outcome.status !== "skipped" && outcome.status !== "failed") {
      notes.push(outcome.client.why);
      if (context.proxySet && outcome.client.proxyNote) notes.push(`proxy: ${outcome.client.proxyNote}`);
    }
    for (const note of notes.filter(Boolean)) lines.push(`  ${" ".repeat(idWidth)}  ${" ".repeat(16)} ${note}`);
    if (context.dryRun && outcome.diff) lines.push(...outcome.diff.trimEnd().split("\n"));
  }
  return lines;
}

const ORDER: readonly Status[] = ["written", "unchanged", "removed", "skipped", "failed"];

export function summary(outcomes: readonly Outcome[], context: Pick<ReportContext, "dryRun">): string {
  return ORDER.map((status) => [status, outcomes.filter((outcome) => outcome.status === status).length] as const)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${wording(status, context.dryRun)}`)
    .join(", ");
}

/** A dry run changes nothing, so what it would change is said as such, in the lines and the summary alike. */
function wording(status: Status, dryRun: boolean): string {
  return dryRun && (status === "written" || status === "removed") ? `would be ${status}` : status;
}

/**
 * When every client was skipped as not installed, what to say about it, naming each client and the
 * directory that would have shown it installed; undefined when at least one client was found.
 */
export function noClientFound(
  outcomes: readonly Outcome[],
  places: Places,
  context: Pick<ReportContext, "mode" | "dryRun">,
): string | undefined {
  if (outcomes.length === 0 || outcomes.some((outcome) => outcome.status !== "skipped")) return undefined;
  const lookedFor = outcomes.map(({ client }) => `${client.label} (${resolve(places, client.installedDir)})`).join(", ");
  if (context.mode === "remove") return `no MCP client found, so there is nothing to remove; looked for ${lookedFor}`;
  const nothing = context.dryRun ? "nothing would be written" : "nothing was written";
  return (
    `no MCP client found, so ${nothing}; looked for ${lookedFor}. ` +
    "Install and start a client first, or name one with --client <id> to write its file anyway"
  );
}
