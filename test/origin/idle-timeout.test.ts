import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ClientHold, idleTimeout } from "../../aws/origin/hosting/idle-timeout.ts";
import { UpstreamTimeout } from "../../aws/origin/hosting/upstream-errors.ts";

describe("the upstream's idle timeout", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("aborts after a period without an answer or progress, and progress starts the period again", () => {
    const idle = idleTimeout(300);
    vi.advanceTimersByTime(250);
    idle.reset();
    vi.advanceTimersByTime(299);
    expect(idle.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(idle.signal.reason).toBeInstanceOf(UpstreamTimeout);
  });

  it("waits while the upstream waits on the client", () => {
    const idle = idleTimeout(300, () => ({ waiting: true }));
    vi.advanceTimersByTime(10_000);
    expect(idle.signal.aborted).toBe(false);
    idle.clear();
  });

  it("gives the upstream a whole period from the client's answer, however late in a period it came", () => {
    const hold: ClientHold = { waiting: true };
    const idle = idleTimeout(300, () => hold);
    vi.advanceTimersByTime(899); // the timer's next check is at 900 ms
    Object.assign(hold, { waiting: false, answeredAt: Date.now() });
    vi.advanceTimersByTime(298);
    expect(idle.signal.aborted).toBe(false);
    vi.advanceTimersByTime(2);
    expect(idle.signal.reason).toBeInstanceOf(UpstreamTimeout);
  });

  it("counts from an answer given between two checks, the pause never seen", () => {
    const hold: ClientHold = { waiting: false };
    const idle = idleTimeout(300, () => hold);
    vi.advanceTimersByTime(250); // asked and answered within one period
    hold.answeredAt = Date.now();
    vi.advanceTimersByTime(299);
    expect(idle.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(idle.signal.aborted).toBe(true);
  });
});
