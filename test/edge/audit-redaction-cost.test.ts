import { describe, expect, it } from "vitest";
import { MAX_AUDIT_ARGUMENTS_BYTES } from "../../contract/audit-event.ts";
import { auditArguments, DEFAULT_REDACTION_RULES, TRUNCATED_KEY } from "../../contract/audit-redaction.ts";

// Coarse bounds against a return of super-linear cutting (s21 review R8: 10,000 long keys sharing a start took 95 s,
// past a Worker's CPU limit, so the call was relayed and never audited), not timings: each case takes well under a
// second here.
const bytesOf = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

function timed(args: Record<string, unknown>): { kept: Record<string, unknown>; ms: number } {
  const started = performance.now();
  const kept = auditArguments(args, DEFAULT_REDACTION_RULES);
  return { kept, ms: performance.now() - started };
}

const longKeys = (count: number) =>
  Object.fromEntries(Array.from({ length: count }, (_, index) => [`${"x".repeat(40)}${index}`, 1]));

describe("cutting large arguments stays near-linear in their size (s21 review R8)", () => {
  it("10,000 long keys sharing a start (489 KB) become the preview marker in well under 2 s", { timeout: 120_000 }, () => {
    const args = longKeys(10_000);
    const { kept, ms } = timed(args);
    expect(Object.keys(kept)).toEqual([TRUNCATED_KEY]);
    expect((kept[TRUNCATED_KEY] as { bytes: number }).bytes).toBe(bytesOf(args));
    expect(bytesOf(kept)).toBeLessThanOrEqual(MAX_AUDIT_ARGUMENTS_BYTES);
    expect(ms).toBeLessThan(2_000);
  });

  it("the same near the 4 MiB a request may be: 80,000 long keys", { timeout: 120_000 }, () => {
    const { kept, ms } = timed(longKeys(80_000));
    expect(Object.keys(kept)).toEqual([TRUNCATED_KEY]);
    expect(bytesOf(kept)).toBeLessThanOrEqual(MAX_AUDIT_ARGUMENTS_BYTES);
    expect(ms).toBeLessThan(10_000);
  });

  it("many long string values (4 MB) are cut, every key kept, in well under 5 s", { timeout: 120_000 }, () => {
    const args = {
      huge: "h".repeat(1_000_000),
      ...Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`k${index}`, `${"y".repeat(30_000)}${index}`])),
    };
    const { kept, ms } = timed(args);
    expect(Object.keys(kept).sort()).toEqual(Object.keys(args).sort());
    expect(kept.k7).toMatch(/^y+…\[truncated from 30001 characters\]$/);
    expect(bytesOf(kept)).toBeLessThanOrEqual(MAX_AUDIT_ARGUMENTS_BYTES);
    expect(ms).toBeLessThan(5_000);
  });

  it("arrays of arrays (2 MB) and a deep-ish tree of them are cut in well under 5 s", { timeout: 120_000 }, () => {
    const tree = (depth: number): unknown => (depth === 0 ? "leaf" : Array.from({ length: 4 }, () => tree(depth - 1)));
    for (const args of [
      { grid: Array.from({ length: 1000 }, () => Array.from({ length: 1000 }, (_, index) => index % 10)) },
      { tree: tree(9) },
    ]) {
      const { kept, ms } = timed(args);
      expect(bytesOf(kept)).toBeLessThanOrEqual(MAX_AUDIT_ARGUMENTS_BYTES);
      expect(ms).toBeLessThan(5_000);
    }
  });
});
