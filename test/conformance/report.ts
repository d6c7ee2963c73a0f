import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { formatReport, scoredTotals } from "./format-report.ts";
import { runConformance } from "./run-conformance.ts";

const USAGE = `usage: node test/conformance/report.ts --url URL --requirements 2025-11-25|2026-07-28
       [--scenario NAME]... [--output-dir DIR] [--expected-failures FILE] [--timeout MS]`;

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    requirements: { type: "string" },
    scenario: { type: "string", multiple: true },
    "output-dir": { type: "string" },
    "expected-failures": { type: "string" },
    timeout: { type: "string" },
  },
});
if (!values.url || !values.requirements) {
  console.error(USAGE);
  process.exit(2);
}

const outputDir = values["output-dir"] ?? (await mkdtemp(join(tmpdir(), "conformance-")));
const report = await runConformance({
  url: values.url,
  requirements: values.requirements,
  outputDir,
  scenarios: values.scenario,
  expectedFailuresFile: values["expected-failures"],
  scenarioTimeoutMs: values.timeout ? Number(values.timeout) : undefined,
});
console.log(formatReport(report));
console.log(`results in ${outputDir}`);
// With a baseline the suite's own verdict decides (unexpected failures, stale entries); without, any scored failure.
const failed = values["expected-failures"] ? report.exitCode !== 0 : scoredTotals(report).scenariosFailed > 0;
process.exit(failed ? 1 : 0);
