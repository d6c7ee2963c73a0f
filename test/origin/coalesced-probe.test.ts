import { describe, expect, it } from "vitest";
import { coalescedProbe } from "../../aws/origin/health/coalesced-probe.ts";

/** A dependency check that counts its calls and finishes when told to. */
function countedCheck() {
  const pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
  return {
    calls: () => pending.length,
    check: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
    finish: (error?: Error) => {
      const last = pending.at(-1);
      if (error) last?.reject(error);
      else last?.resolve();
    },
  };
}

describe("a coalesced readiness probe", () => {
  it("asks once for any number of callers while a check runs, and shares its answer", async () => {
    const dependency = countedCheck();
    const probe = coalescedProbe(dependency.check, 1000, () => 0);
    const answers = Array.from({ length: 50 }, () => probe());
    expect(dependency.calls()).toBe(1);
    dependency.finish();
    await expect(Promise.all(answers)).resolves.toHaveLength(50);
  });

  it("reuses an answer for its window, a failure too, and asks again after it", async () => {
    let now = 0;
    const dependency = countedCheck();
    const probe = coalescedProbe(dependency.check, 1000, () => now);
    const first = probe();
    dependency.finish(new Error("database unreachable"));
    await expect(first).rejects.toThrow("database unreachable");
    now = 999;
    await expect(probe()).rejects.toThrow("database unreachable");
    expect(dependency.calls()).toBe(1);
    now = 1000;
    const next = probe();
    expect(dependency.calls()).toBe(2);
    dependency.finish();
    await expect(next).resolves.toBeUndefined();
  });

  it("starts the window when a slow check answers, not when it began", async () => {
    let now = 0;
    const dependency = countedCheck();
    const probe = coalescedProbe(dependency.check, 1000, () => now);
    const slow = probe();
    now = 5000;
    dependency.finish();
    await slow;
    now = 5500;
    await probe();
    expect(dependency.calls()).toBe(1);
  });
});
