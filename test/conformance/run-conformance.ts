import { mkdir, readdir } from "node:fs/promises";
import { missingResult, readScenarioChecks, type ScenarioResult, summarizeChecks } from "./scenario-results.ts";
import { runSuite, scoredServerScenarios } from "./suite-cli.ts";

export interface ConformanceOptions {
  /** The MCP endpoint under test. */
  url: string;
  /** A requirement set the installed suite ships: `2025-11-25` or `2026-07-28`. */
  requirements: string;
  /** Where the suite writes its per-scenario results; created if missing, reusable across runs. */
  outputDir: string;
  /** Run only these scenarios, each at the requirement set's wire version, as `--requirements` would run it. */
  scenarios?: string[];
  /** The suite's `--expected-failures` baseline, passed through: it then decides the exit code with it. */
  expectedFailuresFile?: string;
  /** The suite's per-scenario `--timeout`. A healthy server finishes every scenario in well under a second. */
  scenarioTimeoutMs?: number;
}

export interface ConformanceReport {
  url: string;
  requirements: string;
  /** Scored scenarios first, in the suite's order, then whatever else the run reported. */
  scenarios: ScenarioResult[];
  exitCode: number | null;
  /** Everything the suite printed, for diagnosing a failure. */
  output: string;
}

const DEFAULT_SCENARIO_TIMEOUT_MS = 10_000;
/** Besides the scored scenarios, a requirement set runs a dozen or so unscored ones (extensions, pending). */
const UNSCORED_ALLOWANCE = 20;

function suiteArguments(options: ConformanceOptions, scenario: string | undefined, timeoutMs: number): string[] {
  const args = ["server", "--url", options.url, "-o", options.outputDir, "--timeout", String(timeoutMs)];
  // `--requirements` refuses `--scenario`; a single scenario runs as the set would run it: at its wire version, forced.
  args.push(
    ...(scenario
      ? ["--scenario", scenario, "--spec-version", options.requirements, "--force"]
      : ["--requirements", options.requirements]),
  );
  if (options.expectedFailuresFile) args.push("--expected-failures", options.expectedFailuresFile);
  return args;
}

/**
 * Runs the MCP conformance suite's server scenarios against `url` in a child process and reads back what it wrote
 * under `-o`: per scenario, the passed/failed/warning check counts and the failing check ids. A scored scenario the
 * suite wrote nothing for counts as failed.
 */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const timeoutMs = options.scenarioTimeoutMs ?? DEFAULT_SCENARIO_TIMEOUT_MS;
  const scored = await scoredServerScenarios(options.requirements);
  await mkdir(options.outputDir, { recursive: true });
  const before = new Set(await readdir(options.outputDir));

  // One suite process for the whole set, or one per named scenario.
  const runs: (string | undefined)[] = options.scenarios ?? [undefined];
  let exitCode: number | null = 0;
  let output = "";
  for (const scenario of runs) {
    const expectedScenarios = scenario ? 1 : scored.length + UNSCORED_ALLOWANCE;
    const run = await runSuite(suiteArguments(options, scenario, timeoutMs), timeoutMs * expectedScenarios + 30_000);
    output += run.timedOut ? `${run.output}\n[killed: the suite outlived its time budget]\n` : run.output;
    if (run.exitCode !== 0) exitCode = run.exitCode;
  }

  const checksByScenario = await readScenarioChecks(options.outputDir, before);
  const wanted = options.scenarios ? scored.filter((name) => options.scenarios?.includes(name)) : scored;
  const resultOf = (name: string, isScored: boolean): ScenarioResult => {
    const checks = checksByScenario.get(name);
    return checks === undefined || checks === "no-results"
      ? missingResult(name, isScored)
      : summarizeChecks(name, isScored, checks);
  };
  const scenarios = wanted.map((name) => resultOf(name, true));
  for (const name of checksByScenario.keys()) {
    if (!scored.includes(name)) scenarios.push(resultOf(name, false));
  }
  return { url: options.url, requirements: options.requirements, scenarios, exitCode, output };
}
