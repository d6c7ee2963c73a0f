import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionLifecycle } from "../../durable-objects/session/lifecycle.ts";
import type { EdgeEnv } from "../../worker/env.ts";

// The user's registry ends their least recently used session past sessionsPerUser: it must hear of a session's use
// soon enough that a session working now (a long call in flight) is not taken for the oldest.

afterEach(() => {
  vi.useRealTimers();
});

function lifecycle(busy = () => false) {
  const touched: number[] = [];
  const registry = { touch: async () => void touched.push(Date.now()) };
  const env = { USER_SESSIONS: { idFromName: (name: string) => name, get: () => registry } } as unknown as EdgeEnv;
  const storage = { kv: { put: () => {} }, setAlarm: async () => {} };
  const ctx = { storage } as unknown as DurableObjectState;
  return {
    touched,
    lifecycle: new SessionLifecycle(
      ctx,
      () => env,
      () => false,
      busy,
    ),
  };
}

describe("a session's uses, as its user's registry hears of them", () => {
  it("reach the registry at most once a minute, and a minute after the last at the latest", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = new Date("2026-12-03T04:00:00Z").getTime();
    vi.setSystemTime(start);
    const { touched, lifecycle: session } = lifecycle();
    expect(session.noteUse("alice", "s1")).toBe(true); // the idle alarm's first push too
    vi.setSystemTime(start + 30_000);
    expect(session.noteUse("alice", "s1")).toBe(false);
    vi.setSystemTime(start + 61_000);
    expect(session.noteUse("alice", "s1")).toBe(false); // the idle alarm is pushed back hourly only
    await Promise.resolve();
    expect(touched).toEqual([start, start + 61_000]);
  });

  it("reach the registry every minute while a request is worked on, though the client sends nothing", async () => {
    vi.useFakeTimers({ toFake: ["Date", "setInterval", "clearInterval"] });
    const start = new Date("2026-12-03T05:00:00Z").getTime();
    vi.setSystemTime(start);
    let busy = true;
    const { touched, lifecycle: session } = lifecycle(() => busy);
    session.keepAlive("alice", "s1"); // a long call begins
    await vi.advanceTimersByTimeAsync(3 * 60_000 + 1_000);
    busy = false; // it ended
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(touched).toEqual([start, start + 60_000, start + 120_000, start + 180_000]);
  });
});
