import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedFailuresFile, readExpectedServerFailures } from "./expected-failures.ts";
import { formatReport, scoredTotals } from "./format-report.ts";
import { type ProxySystem, startProxySystem, UPSTREAMS, type UpstreamName } from "./proxy-system.ts";
import { type ConformanceReport, runConformance } from "./run-conformance.ts";
import { failsBaseline } from "./scenario-results.ts";

/**
 * KNOWN RELAY DEFECTS: scored scenarios that pass against the fixture directly but fail (or warn) through the proxy
 * today, per client era (requirement set) × upstream. Each names its section in PROXY-FINDINGS.md (root cause and
 * where the fix belongs). This is not an expected-failures list: the only scenarios that may fail through the proxy
 * for good are those that fail directly too (the direct `--era dual` baseline, today empty).
 *
 * For a combination with entries here, "every scenario passes" runs as `it.fails`; once the relay is fixed it passes,
 * vitest reports the `it.fails` as failed, and the entries must go. An entry whose scenario passes is reported too.
 * Scenarios not listed here must pass in any case.
 */
const KNOWN_RELAY_DEFECTS: Record<string, Record<string, string>> = {
  "2025-11-25 × modern": {},
  "2025-11-25 × legacy": {},
  "2026-07-28 × modern": {},
  // A 2025-era upstream can only be made to look modern so far: it hears one set of client capabilities per
  // connection (the proxy's, which are every client's) and its requests to the client carry no input-request
  // keys. See docs/era-mapping.md, "What a 2025-era upstream cannot show a 2026-07-28 client".
  "2026-07-28 × legacy": {
    "input-required-result-capability-check": "PROXY-FINDINGS.md §3b (a 2025-era upstream cannot see per-request capabilities)",
    "input-required-result-basic-elicitation":
      "PROXY-FINDINGS.md §4 (a 2025-era upstream's requests carry no input-request keys)",
    "input-required-result-ignore-extra-params": "PROXY-FINDINGS.md §4",
  },
};

const REQUIREMENT_SETS = ["2025-11-25", "2026-07-28"];
/** The proxy makes a legacy upstream look modern, so the dual-era fixture is the reference for both upstreams. */
const REFERENCE_MODE = "dual";
const SCENARIO_TIMEOUT_MS = 10_000;

let system: ProxySystem;
let outputRoot: string;
beforeAll(async () => {
  // Set CONFORMANCE_OUTPUT_DIR to keep the suite's per-scenario results (checks.json with every message).
  outputRoot = process.env.CONFORMANCE_OUTPUT_DIR || (await mkdtemp(join(tmpdir(), "conformance-proxy-")));
  system = await startProxySystem();
}, 180_000);
afterAll(async () => {
  await system?.close();
  if (!process.env.CONFORMANCE_OUTPUT_DIR && outputRoot) await rm(outputRoot, { recursive: true, force: true });
}, 60_000);

interface Verdict {
  report: ConformanceReport;
  table: string;
  /** Scored scenarios failing (or warning) through the proxy that the direct baseline does not excuse. */
  failing: { scenario: string; failingChecks: { id: string; message?: string }[]; warnings: number }[];
}

// One suite run per combination, shared by the combination's tests; combinations run one after the other.
const verdicts = new Map<string, Promise<Verdict>>();
function verdictFor(requirements: string, upstream: UpstreamName): Promise<Verdict> {
  const key = `${requirements} × ${upstream}`;
  let verdict = verdicts.get(key);
  if (!verdict) {
    verdict = (async () => {
      const failsDirectly = await readExpectedServerFailures(expectedFailuresFile(requirements, REFERENCE_MODE));
      const report = await runConformance({
        url: system.forwarders[upstream].url,
        requirements,
        outputDir: join(outputRoot, `${upstream}-${requirements}`),
        scenarioTimeoutMs: SCENARIO_TIMEOUT_MS,
      });
      const totals = scoredTotals(report);
      console.log(
        `[conformance through the proxy] ${key}: scenarios ${totals.scenariosPassed} passed, ${totals.scenariosWarned} with ` +
          `warnings only, ${totals.scenariosFailed} failed; scored checks ${totals.checksPassed}/${totals.checksScored}, ` +
          `${totals.warnings} warnings`,
      );
      const failing = report.scenarios
        .filter((result) => result.scored && failsBaseline(result) && !failsDirectly.includes(result.scenario))
        .map(({ scenario, failingChecks, warnings }) => ({ scenario, failingChecks, warnings }));
      return { report, table: formatReport(report), failing };
    })();
    verdicts.set(key, verdict);
  }
  return verdict;
}

describe.each(REQUIREMENT_SETS)(
  "the conformance suite through the proxy (edge, origin, stdio upstream), --requirements %s",
  (requirements) => {
    describe.each(Object.keys(UPSTREAMS) as UpstreamName[])("upstream %s", (upstream) => {
      const key = `${requirements} × ${upstream}`;
      const known = KNOWN_RELAY_DEFECTS[key] ?? {};

      it("no scored scenario that passes directly fails through the proxy, beyond the known relay defects", async () => {
        const { report, table, failing } = await verdictFor(requirements, upstream);
        const scored = report.scenarios.filter((result) => result.scored);
        expect(
          failing.filter((result) => !(result.scenario in known)),
          table,
        ).toEqual([]);
        // A known defect whose scenario passes now is fixed: its entry must leave KNOWN_RELAY_DEFECTS.
        const fixed = Object.keys(known).filter((name) => !failing.some((result) => result.scenario === name));
        expect(fixed, `fixed through the proxy, remove from KNOWN_RELAY_DEFECTS["${key}"]`).toEqual([]);
        // Guards the harness: a run that silently covered nothing would pass the checks above.
        expect(scoredTotals(report).checksScored).toBeGreaterThan(scored.length);
      });

      (Object.keys(known).length > 0 ? it.fails : it)(
        `every scored scenario that passes directly passes through the proxy${Object.keys(known).length > 0 ? " (fails today: KNOWN_RELAY_DEFECTS)" : ""}`,
        async () => {
          const { table, failing } = await verdictFor(requirements, upstream);
          expect(failing, table).toEqual([]);
        },
      );
    });
  },
);
