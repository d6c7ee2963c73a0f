import type { ConformanceReport } from "./run-conformance.ts";

export interface ScoredTotals {
  /** No FAILURE and no WARNING check. */
  scenariosPassed: number;
  /** WARNING checks (a SHOULD not met) but no FAILURE. */
  scenariosWarned: number;
  /** At least one FAILURE check. */
  scenariosFailed: number;
  checksPassed: number;
  /** SUCCESS + FAILURE checks of scored scenarios: the suite's denominator. */
  checksScored: number;
  warnings: number;
}

/** Totals over scored scenarios only, as the suite's pass rate counts them. */
export function scoredTotals(report: ConformanceReport): ScoredTotals {
  const scored = report.scenarios.filter((result) => result.scored);
  return {
    scenariosPassed: scored.filter((result) => result.failed === 0 && result.warnings === 0).length,
    scenariosWarned: scored.filter((result) => result.failed === 0 && result.warnings > 0).length,
    scenariosFailed: scored.filter((result) => result.failed > 0).length,
    checksPassed: scored.reduce((sum, result) => sum + result.passed, 0),
    checksScored: scored.reduce((sum, result) => sum + result.passed + result.failed, 0),
    warnings: scored.reduce((sum, result) => sum + result.warnings, 0),
  };
}

/** A plain-text table of every scenario, then the scored totals. */
export function formatReport(report: ConformanceReport): string {
  const rows = report.scenarios.map((result) => [
    result.failed > 0 ? "FAIL" : result.warnings > 0 ? "warn" : "pass",
    result.scenario,
    result.scored ? "scored" : "not scored",
    String(result.passed),
    String(result.failed),
    String(result.warnings),
    result.failingChecks.map((check) => check.id).join(", "),
  ]);
  const header = ["", "scenario", "", "passed", "failed", "warnings", "failing checks"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  const totals = scoredTotals(report);
  return [
    `${report.url} against requirements ${report.requirements}`,
    line(header),
    ...rows.map(line),
    "",
    `scored scenarios: ${totals.scenariosPassed} passed, ${totals.scenariosWarned} with warnings only, ${totals.scenariosFailed} failed; ` +
      `scored checks: ${totals.checksPassed}/${totals.checksScored} passed, ${totals.warnings} warnings`,
  ].join("\n");
}
