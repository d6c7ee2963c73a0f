import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionLifecycle } from "../../durable-objects/session/lifecycle.ts";
import type { EdgeEnv } from "../../worker/env.ts";

// The user's registry ends their least recently used session past sessionsPerUser: it hears of a session's use at most
// once a minute, and asks a session whether a call is in flight only when it would end it (user-sessions.test.ts).

afterEach(() => {
  vi.useRealTimers();
});

function lifecycle() {
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
});
