import { describe, expect, inject, it } from "vitest";
import { edgeConfig } from "../../worker/config.ts";
import { warmUpstreams } from "../../worker/upstream/warm.ts";
import { testEnv } from "./edge-env.ts";

// The request itself, signed and answered by a real origin, is covered end to end in test/e2e/npm-start.test.ts.
const USER = { sub: "warm-user", email: "ada@example.com", groups: [] };

/** POSTs the holding origin saw given up on by their sender (it never answers one). */
const givenUp = async () => Number(await (await fetch(`${inject("holdingUrl")}/closed`)).text());

/** The count once it reaches `expected` (the origin hears of a closed connection a moment later), or as it stands. */
async function givenUpReaching(expected: number): Promise<number> {
  for (let tries = 0; tries < 40 && (await givenUp()) < expected; tries++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  return givenUp();
}

describe("starting a user's upstreams at sign-in", () => {
  it("asks the origin, and gives up on an origin that does not answer without failing", async () => {
    const env = testEnv({ ORIGIN_URL: inject("holdingUrl"), ORIGIN_ANSWER_TIMEOUT_SECONDS: "1" });
    const before = await givenUp();
    await expect(warmUpstreams(env, edgeConfig(env), USER, "client-1")).resolves.toBeUndefined();
    expect(await givenUpReaching(before + 1)).toBe(before + 1);
  });

  it("asks nothing when switched off (warmOnSignIn false)", async () => {
    const env = testEnv({ ORIGIN_URL: inject("holdingUrl"), ORIGIN_ANSWER_TIMEOUT_SECONDS: "1", WARM_ON_SIGN_IN: "false" });
    const before = await givenUp();
    await warmUpstreams(env, edgeConfig(env), USER, "client-1");
    expect(await givenUpReaching(before + 1)).toBe(before);
  });

  it("never fails the sign-in when the origin is unreachable", async () => {
    const env = testEnv({ ORIGIN_URL: "http://127.0.0.1:9" });
    await expect(warmUpstreams(env, edgeConfig(env), USER, "client-1")).resolves.toBeUndefined();
  });
});
