import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchHttpFixture, type RunningFixture } from "../fixtures/conformance-upstream/launch.ts";
import { expectedFailuresFile, type FixtureMode, readExpectedServerFailures } from "./expected-failures.ts";
import { formatReport, scoredTotals } from "./format-report.ts";
import { runConformance } from "./run-conformance.ts";
import { failsBaseline } from "./scenario-results.ts";

const REQUIREMENT_SETS = ["2025-11-25", "2026-07-28"];
const MODES: FixtureMode[] = ["dual", "legacy"];
/** Every scenario takes well under a second against a healthy fixture; a hung one fails after this instead of 30 s. */
const SCENARIO_TIMEOUT_MS = 10_000;

let outputRoot: string;
beforeAll(async () => {
  outputRoot = await mkdtemp(join(tmpdir(), "conformance-direct-"));
});
afterAll(async () => {
  await rm(outputRoot, { recursive: true, force: true });
});

// Modes run one after the other (the file's tests are sequential): two cores, and each suite run is a burst of traffic.
describe.each(MODES)("the conformance suite against the fixture served directly, --era %s", (mode) => {
  let fixture: RunningFixture | undefined;
  beforeAll(async () => {
    fixture = await launchHttpFixture(mode);
  });
  afterAll(async () => {
    await fixture?.stop();
  });

  it.each(REQUIREMENT_SETS)(
    "--requirements %s: every scored scenario passes unless its expected-failures file lists it",
    async (requirements) => {
      const baseline = expectedFailuresFile(requirements, mode);
      const expectedToFail = await readExpectedServerFailures(baseline);
      const report = await runConformance({
        url: fixture?.url ?? "",
        requirements,
        outputDir: join(outputRoot, `${mode}-${requirements}`),
        expectedFailuresFile: baseline,
        scenarioTimeoutMs: SCENARIO_TIMEOUT_MS,
      });
      const scored = report.scenarios.filter((result) => result.scored);
      const table = formatReport(report);
      const totals = scoredTotals(report);
      console.log(
        `[conformance] --era ${mode} --requirements ${requirements}: scenarios ${totals.scenariosPassed} passed, ` +
          `${totals.scenariosWarned} with warnings only, ${totals.scenariosFailed} failed; ` +
          `scored checks ${totals.checksPassed}/${totals.checksScored}, ${totals.warnings} warnings`,
      );

      const unexpectedFailures = scored
        .filter((result) => failsBaseline(result) && !expectedToFail.includes(result.scenario))
        .map((result) => ({ scenario: result.scenario, failingChecks: result.failingChecks }));
      expect(unexpectedFailures, table).toEqual([]);
      // The baseline must stay true: an entry that now passes, or names no scored scenario, is a stale excuse.
      const stale = expectedToFail.filter((name) => !scored.some((result) => result.scenario === name && failsBaseline(result)));
      expect(stale, table).toEqual([]);
      // The suite judges the same baseline itself; its verdict must agree with ours.
      expect(report.exitCode, report.output).toBe(0);
      // Guards the harness: a run that silently covered nothing would pass the checks above.
      expect(totals.checksScored).toBeGreaterThan(scored.length);
    },
  );
});
