import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** One check as the suite writes it to `checks.json`. */
interface SuiteCheck {
  id: string;
  status: "SUCCESS" | "FAILURE" | "WARNING" | "SKIPPED" | "INFO";
  errorMessage?: string;
}

export interface ScenarioResult {
  scenario: string;
  /** Whether the requirement set scores it; unscored scenarios run for visibility only. */
  scored: boolean;
  /** SUCCESS checks. Like the suite, only SUCCESS and FAILURE count towards a pass rate; WARNING, SKIPPED, INFO do not. */
  passed: number;
  failed: number;
  warnings: number;
  /** Ids of FAILURE checks, each once, with the first error message the suite gave for it. */
  failingChecks: { id: string; message?: string }[];
}

/**
 * Whether the suite's `--expected-failures` evaluation counts this scenario as failing: it treats a WARNING (a SHOULD
 * not met) like a FAILURE there, although its pass rate counts only FAILURE.
 */
export function failsBaseline(result: ScenarioResult): boolean {
  return result.failed > 0 || result.warnings > 0;
}

/** The suite names each result directory `server-<scenario>-<ISO timestamp with : and . replaced by ->`. */
const RESULT_DIRECTORY = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

export function summarizeChecks(scenario: string, scored: boolean, checks: SuiteCheck[]): ScenarioResult {
  const failingChecks = new Map<string, string | undefined>();
  for (const check of checks) {
    if (check.status === "FAILURE" && !failingChecks.has(check.id)) failingChecks.set(check.id, check.errorMessage);
  }
  return {
    scenario,
    scored,
    passed: checks.filter((check) => check.status === "SUCCESS").length,
    failed: checks.filter((check) => check.status === "FAILURE").length,
    warnings: checks.filter((check) => check.status === "WARNING").length,
    failingChecks: [...failingChecks].map(([id, message]) => ({ id, message })),
  };
}

/**
 * Reads the result directories under `outputDir` that are not in `alreadyThere` (so an output directory can be
 * reused across runs), keyed by scenario; a scenario run twice keeps its latest result. A scenario that crashed
 * leaves a directory without checks.json: "no-results".
 */
export async function readScenarioChecks(
  outputDir: string,
  alreadyThere: Set<string>,
): Promise<Map<string, SuiteCheck[] | "no-results">> {
  const found = new Map<string, SuiteCheck[] | "no-results">();
  const entries = (await readdir(outputDir)).filter((entry) => !alreadyThere.has(entry)).sort();
  for (const entry of entries) {
    const scenario = RESULT_DIRECTORY.exec(entry)?.[1];
    if (!scenario) continue;
    // The suite creates the directory before the scenario runs and writes checks.json only if the scenario returns.
    const checks = await readFile(join(outputDir, entry, "checks.json"), "utf8").catch(() => undefined);
    found.set(scenario, checks === undefined ? "no-results" : (JSON.parse(checks) as SuiteCheck[]));
  }
  return found;
}

/** A scenario the suite wrote no checks for counts as one failed check, never as nothing to see. */
export function missingResult(scenario: string, scored: boolean): ScenarioResult {
  return {
    scenario,
    scored,
    passed: 0,
    failed: 1,
    warnings: 0,
    failingChecks: [{ id: "no-results", message: "the suite wrote no checks.json for this scenario (it crashed or was killed)" }],
  };
}
