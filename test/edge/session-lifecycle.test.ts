import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionLifecycle } from "../../durable-objects/session/lifecycle.ts";
import { OpenRequests } from "../../durable-objects/session/open-requests.ts";
import type { EdgeEnv } from "../../worker/env.ts";

// The user's registry ends their least recently used session past sessionsPerUser: it must hear of a session's use
// soon enough that a session working now (a long call in flight) is not taken for the oldest: it says when it turns
// busy and idle, and is ended last.

afterEach(() => {
  vi.useRealTimers();
});

function lifecycle() {
  const touched: number[] = [];
  const marked: { busy: boolean; stamp: number }[] = [];
  const registry = {
    touch: async () => void touched.push(Date.now()),
    mark: async (_id: string, busy: boolean, stamp: number) => void marked.push({ busy, stamp }),
  };
  const env = { USER_SESSIONS: { idFromName: (name: string) => name, get: () => registry } } as unknown as EdgeEnv;
  const storage = { kv: { put: () => {} }, setAlarm: async () => {} };
  const ctx = { storage } as unknown as DurableObjectState;
  return {
    touched,
    marked,
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

  // s24 observability hunt F5: told of a busy session once a minute, the registry took one whose call began within
  // that minute for the least recently used, and ended it mid-call.
  it("include each turn busy and idle at once, stamped later than the one before even within one instant", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = new Date("2026-12-03T05:00:00Z").getTime();
    vi.setSystemTime(start);
    const { marked, lifecycle: session } = lifecycle();
    session.busyChanged("alice", "s1", true);
    session.busyChanged("alice", "s1", false); // Date.now() has not moved: the stamp still grows
    vi.setSystemTime(start + 5);
    session.busyChanged("alice", "s1", true);
    await Promise.resolve();
    expect(marked).toEqual([
      { busy: true, stamp: start },
      { busy: false, stamp: start + 1 },
      { busy: true, stamp: start + 5 },
    ]);
  });
});

describe("a session's turns busy and idle", () => {
  it("are one word each, however many calls overlap, on every path a call takes", () => {
    const turns: boolean[] = [];
    const requests = new OpenRequests((busy) => turns.push(busy));
    requests.open([1]);
    requests.open([2, 3]);
    requests.answered(1);
    requests.refused(2);
    requests.answered(3);
    expect(turns).toEqual([true, false]);
    requests.open([4]);
    requests.abortAll("the session ended");
    expect(turns).toEqual([true, false, true, false]);
    requests.abortAll("the session ended"); // idle already: no word
    expect(turns).toEqual([true, false, true, false]);
  });
});
