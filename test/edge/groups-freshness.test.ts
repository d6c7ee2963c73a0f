import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IDENTITY_GROUPS_MAX_AGE_PARAMETER } from "../../contract/identity-groups.ts";
import { originGroups } from "../../worker/auth/groups/origin-groups.ts";
import { edgeConfig } from "../../worker/config.ts";
import { testEnv } from "./edge-env.ts";
import { groupsEdge, setOriginGroups } from "./groups-sign-in.ts";

// Groups no older than the edge's TTL, whatever the origin's cache and clock: the edge says how old an answer it
// takes, and a checkedAt in its future counts as now.

const asked: string[] = [];
let aheadSeconds = 0;
const realFetch = globalThis.fetch;
beforeAll(() => {
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    const response = await realFetch(input, init);
    if (!url.includes("/identity/groups") || !response.ok) return response;
    asked.push(url);
    const body = (await response.json()) as { checkedAt: number };
    return Response.json({ ...body, checkedAt: body.checkedAt + aheadSeconds });
  };
});
afterAll(() => {
  globalThis.fetch = realFetch;
});

describe("reading a user's groups from the origin", () => {
  it("asks for an answer no older than groups.ttlSeconds, and takes an origin clock ahead of its own as now", async () => {
    const edge = groupsEdge({ GROUPS_SOURCE: "google-directory", GROUPS_TTL_SECONDS: "30" });
    await setOriginGroups(edge, "dev@example.com", ["eng@example.com"]);
    aheadSeconds = 300;
    const config = edgeConfig(testEnv(edge.env));
    const answer = await originGroups(config, { sub: "dev-1", email: "dev@example.com", clientId: "c" });
    expect(answer.groups).toEqual(["eng@example.com"]);
    expect(new URL(asked.at(-1) ?? "").searchParams.get(IDENTITY_GROUPS_MAX_AGE_PARAMETER)).toBe("30");
    expect(answer.checkedAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });
});
