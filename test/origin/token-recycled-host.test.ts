import { describe, expect, it } from "vitest";
import type { Caller, UpstreamHost } from "../../aws/origin/hosting/upstream-host.ts";
import { type Generation, tokenRecycledHost } from "../../aws/origin/upstream-credentials/token-recycled-host.ts";

// A user's child recycled when its credential nears expiry, with stand-in children: which child each request reaches
// while a call is parked in the old one (waiting for the user's answer), including one parked while the new child
// was starting.
interface FakeChild extends Generation {
  name: string;
  parked: number;
  stopped: boolean;
  /** Ends by itself, as a crashed process does. */
  crash(): void;
}

function fakeChild(name: string, expiresAt: number): FakeChild {
  let markClosed = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  const child: FakeChild = {
    name,
    expiresAt,
    parked: 0,
    stopped: false,
    crash: () => markClosed(),
    host: {
      pid: null,
      era: "modern",
      active: 0,
      lastUsed: 0,
      awaitingClient: () => child.parked,
      closed,
      fetch: async () => new Response(name),
      close: async () => {
        child.stopped = true;
        markClosed();
      },
    } satisfies UpstreamHost,
  };
  return child;
}

const CALLER = { sub: "u", server: "drive", clientId: "c", era: "modern" } as unknown as Caller;
const ask = async (host: UpstreamHost) => (await host.fetch(new Request("http://origin.test/"), CALLER)).text();

/**
 * A host on its "old" child, whose credential expires at 100 on `clock` (from 90 on, the next request starts the "new"
 * one, whose start waits until `letNewStart`).
 */
async function renewalAboutToStart() {
  const old = fakeChild("old", 100);
  const next = fakeChild("new", 200);
  let letNewStart = () => {};
  const gate = new Promise<void>((resolve) => {
    letNewStart = resolve;
  });
  const children = [old, next];
  const clock = { now: 0 };
  const host = await tokenRecycledHost({
    start: async () => {
      const child = children.shift() as FakeChild;
      if (child === next) await gate;
      return child;
    },
    needsRenewal: (expiresAt) => expiresAt - clock.now <= 10,
    stillValid: (expiresAt) => expiresAt - clock.now > 2,
    refused: () => ({ code: -32000, message: "no" }),
  });
  return { old, next, host, letNewStart, clock };
}

describe("a recycled host whose current child crashes", () => {
  it("stops the child standing by to take over: nothing of the host outlives it", async () => {
    const { old, next, host, letNewStart, clock } = await renewalAboutToStart();
    clock.now = 95;
    const during = ask(host); // the new child starts...
    old.parked = 1; // ...while a call parks in the old one: the new one stands by
    letNewStart();
    expect(await during).toBe("old");
    expect(next.stopped).toBe(false);
    old.crash();
    await host.closed;
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(next.stopped).toBe(true);
  });

  it("stops a child that was still starting when the current one crashed", async () => {
    const { old, next, host, letNewStart, clock } = await renewalAboutToStart();
    clock.now = 95;
    const during = ask(host).catch(() => "refused");
    old.crash();
    await host.closed;
    letNewStart();
    await during;
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(next.stopped).toBe(true);
  });
});

describe("a recycled host closed by the pool", () => {
  it("stops a child that was still starting when it was closed", async () => {
    const { old, next, host, letNewStart, clock } = await renewalAboutToStart();
    clock.now = 95;
    const during = ask(host).catch(() => "refused");
    await host.close();
    expect(old.stopped).toBe(true);
    letNewStart();
    await during;
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(next.stopped).toBe(true);
  });
});

describe("a recycled child holding a parked call", () => {
  it("keeps serving while a call parked during the new child's start waits; the new child takes over after", async () => {
    const { old, host, letNewStart, clock } = await renewalAboutToStart();
    expect(await ask(host)).toBe("old");
    clock.now = 95; // the old child's credential nears expiry: the next request starts a new child
    const during = ask(host);
    old.parked = 1; // meanwhile a call running on the old child asks its user something, and parks there
    letNewStart();
    expect(await during).toBe("old");
    expect(await ask(host)).toBe("old"); // the parked call's retry
    expect(old.stopped).toBe(false);
    old.parked = 0;
    expect(await ask(host)).toBe("new");
    expect(old.stopped).toBe(true);
  });

  it("gives the old child up when its credential is about to lapse, parked call or not", async () => {
    let now = 0;
    const old = fakeChild("old", 100);
    const children = [old, fakeChild("new", 200)];
    const host = await tokenRecycledHost({
      start: async () => children.shift() as FakeChild,
      needsRenewal: (expiresAt) => expiresAt - now <= 10,
      stillValid: (expiresAt) => expiresAt - now > 2,
      refused: () => ({ code: -32000, message: "no" }),
    });
    old.parked = 1;
    now = 95;
    expect(await ask(host)).toBe("old");
    now = 99;
    expect(await ask(host)).toBe("new");
  });
});
