import { describe, expect, it } from "vitest";
import { instanceNameForThisRun } from "../../aws/origin/start-origin.ts";
import { BoundReplayGuardFull, createBoundReplayGuard } from "../../aws/origin/trust/bound-replay-guard.ts";

describe("the record of assertions bound to this instance", () => {
  it("accepts a jti once and refuses it until it expires", () => {
    let clock = 1_000;
    const guard = createBoundReplayGuard({ now: () => clock });
    expect(guard.claim("a", new Date(61_000))).toBe(true);
    expect(guard.claim("a", new Date(61_000))).toBe(false);
    clock = 60_999;
    expect(guard.claim("a", new Date(61_000))).toBe(false);
  });

  it("forgets expired jtis, so memory holds one assertion lifetime of requests", () => {
    let clock = 0;
    const guard = createBoundReplayGuard({ now: () => clock });
    for (let n = 0; n < 100; n++) guard.claim(`old-${n}`, new Date(90_000));
    clock = 90_001;
    guard.claim("new", new Date(180_000));
    expect(guard.size()).toBe(1);
  });

  it("keeps a jti that expires later than one inserted after it (assertions from clocks a little apart)", () => {
    let clock = 0;
    const guard = createBoundReplayGuard({ now: () => clock });
    guard.claim("late", new Date(100_000));
    guard.claim("early", new Date(50_000));
    clock = 60_000;
    expect(guard.claim("late", new Date(100_000))).toBe(false);
  });

  it("refuses (rather than forget a live jti) when full", () => {
    const guard = createBoundReplayGuard({ maxEntries: 2, now: () => 0 });
    guard.claim("a", new Date(60_000));
    guard.claim("b", new Date(60_000));
    expect(() => guard.claim("c", new Date(60_000))).toThrow(BoundReplayGuardFull);
    expect(guard.claim("a", new Date(60_000))).toBe(false);
  });
});

describe("an instance's name", () => {
  it("is new on every start, so a restarted task refuses assertions bound to its earlier run", () => {
    const first = instanceNameForThisRun("origin-1");
    const restarted = instanceNameForThisRun("origin-1");
    expect(first.startsWith("origin-1.")).toBe(true);
    expect(restarted.startsWith("origin-1.")).toBe(true);
    expect(restarted).not.toBe(first);
  });
});
