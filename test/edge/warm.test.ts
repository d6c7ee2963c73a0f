import { describe, expect, inject, it } from "vitest";
import { edgeConfig } from "../../worker/config.ts";
import { serversSignedInFor, warmUpstreams } from "../../worker/upstream/warm.ts";
import { PUBLIC_URL, testEnv } from "./edge-env.ts";

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
    await expect(warmUpstreams(env, edgeConfig(env), USER, "client-1", undefined)).resolves.toBeUndefined();
    expect(await givenUpReaching(before + 1)).toBe(before + 1);
  });

  it("asks nothing when switched off (warmOnSignIn false)", async () => {
    const env = testEnv({ ORIGIN_URL: inject("holdingUrl"), ORIGIN_ANSWER_TIMEOUT_SECONDS: "1", WARM_ON_SIGN_IN: "false" });
    const before = await givenUp();
    await warmUpstreams(env, edgeConfig(env), USER, "client-1", undefined);
    expect(await givenUpReaching(before + 1)).toBe(before);
  });

  it("never fails the sign-in when the origin is unreachable", async () => {
    const env = testEnv({ ORIGIN_URL: "http://127.0.0.1:9" });
    await expect(warmUpstreams(env, edgeConfig(env), USER, "client-1", undefined)).resolves.toBeUndefined();
  });
});

describe("which upstreams a sign-in starts", () => {
  // The test bindings serve "everything" and "filesystem".
  const config = () => edgeConfig(testEnv());

  it("starts only the server the client signed in for", () => {
    expect(serversSignedInFor(config(), `${PUBLIC_URL}/mcp/filesystem`)).toEqual(["filesystem"]);
    expect(serversSignedInFor(config(), [`${PUBLIC_URL}/mcp/everything`, `${PUBLIC_URL}/mcp/filesystem`])).toEqual([
      "everything",
      "filesystem",
    ]);
  });

  it("starts every server for the umbrella resource, and for a client that named none", () => {
    expect(serversSignedInFor(config(), `${PUBLIC_URL}/mcp`)).toEqual(["everything", "filesystem"]);
    expect(serversSignedInFor(config(), undefined)).toEqual(["everything", "filesystem"]);
  });

  it("starts nothing for a server the edge does not serve, or a resource that is no URL", () => {
    expect(serversSignedInFor(config(), `${PUBLIC_URL}/mcp/unknown`)).toEqual([]);
    expect(serversSignedInFor(config(), "not a url")).toEqual([]);
  });
});
