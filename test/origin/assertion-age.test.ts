import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createBoundReplayGuard } from "../../aws/origin/trust/bound-replay-guard.ts";
import { createAssertionVerifier } from "../../aws/origin/trust/verify-assertion.ts";
import { TEST_EDGE, TEST_INSTANCE, TEST_ORIGIN, type TestEdgeKey, testEdgeKey } from "./origin-under-test.ts";

// docs/edge-assertion.md: refused more than 30 s (clock skew) past `exp`, or with an `iat` older than 90 s (60 s
// lifetime + 30 s skew). The clock is pinned so the boundaries are exact.
const NOW = 1_900_000_000;

let edge: TestEdgeKey;
beforeAll(async () => {
  edge = await testEdgeKey();
});
afterEach(() => {
  vi.useRealTimers();
});

function at(seconds: number): void {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(seconds * 1000);
}

function verifier(claimJti: (jti: string, expiresAt: Date) => boolean = () => true) {
  return createAssertionVerifier({
    issuer: TEST_EDGE,
    audience: TEST_ORIGIN,
    keys: edge.keys,
    claimJti: async (jti, expiresAt) => claimJti(jti, expiresAt),
    bound: { instance: TEST_INSTANCE, claimJti },
  });
}

async function outcome(iat: number, exp: number): Promise<string> {
  const token = await edge.sign({ sub: "user-1", client_id: "client-1" }, { iat, exp });
  return verifier()(token).then(
    () => "accepted",
    (error: { reason?: string }) => `refused ${error.reason}`,
  );
}

describe("the age of an edge assertion the origin accepts", () => {
  it("refuses an assertion issued more than 90 s ago, even with a far exp", async () => {
    at(NOW);
    expect(await outcome(NOW - 95, NOW + 600)).toBe("refused expired");
    expect(await outcome(NOW - 91, NOW + 600)).toBe("refused expired");
    expect(await outcome(NOW - 115, NOW + 600)).toBe("refused expired");
  });

  it("accepts one issued up to 90 s ago (60 s lifetime + 30 s skew)", async () => {
    at(NOW);
    expect(await outcome(NOW - 85, NOW + 600)).toBe("accepted");
    expect(await outcome(NOW - 90, NOW + 600)).toBe("accepted");
  });

  it("refuses an assertion 30 s or more past its exp, and accepts one within the skew", async () => {
    at(NOW);
    expect(await outcome(NOW - 95, NOW - 35)).toBe("refused expired");
    expect(await outcome(NOW - 90, NOW - 30)).toBe("refused expired");
    expect(await outcome(NOW - 85, NOW - 25)).toBe("accepted");
  });

  it("remembers a jti for as long as the assertion could be accepted, and no longer", async () => {
    const held: Date[] = [];
    const remember = (_jti: string, until: Date) => held.push(until) > 0;
    at(NOW);
    const sign = (iat: number, exp: number) =>
      edge.sign({ sub: "user-1", client_id: "client-1", instance: TEST_INSTANCE }, { iat, exp });
    await verifier(remember)(await sign(NOW, NOW + 60));
    await verifier(remember)(await sign(NOW, NOW + 3600));
    // Its exp plus the skew; for a far exp, the lifetime from iat plus the skew (the last accepted second included).
    expect(held.map((until) => until.getTime() / 1000 - NOW)).toEqual([90, 91]);
  });

  it.each([
    ["the edge's 60 s", 60],
    ["a far", 3600],
  ])("refuses a replay as replayed until the assertion would be refused as expired (%s exp)", async (_, lifetime) => {
    const guard = createBoundReplayGuard({ now: () => Date.now() }); // read when called: the clock is faked below
    const verify = verifier((jti, until) => guard.claim(jti, until));
    at(NOW);
    const token = await edge.sign(
      { sub: "user-1", client_id: "client-1", instance: TEST_INSTANCE },
      { iat: NOW, exp: NOW + lifetime },
    );
    await verify(token);
    const replay = async (seconds: number) => {
      at(seconds);
      return verify(token).then(
        () => "accepted",
        (error: { reason?: string }) => error.reason,
      );
    };
    const lastAccepted = NOW + Math.min(lifetime, 61) + 29;
    expect(await replay(lastAccepted + 0.999)).toBe("replayed");
    expect(await replay(lastAccepted + 1)).toBe("expired");
  });
});
