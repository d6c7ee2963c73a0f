import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AccountState } from "../../contract/identity-groups.ts";
import { forgetValidatedTokens } from "../../worker/auth/token-cache.ts";
import { type GroupsEdge, groupsEdge, setOriginDown, setOriginGroups } from "./groups-sign-in.ts";
import { signInToOps } from "./ops-session.ts";

// A dashboard session is an access token that is never refreshed (accessTokenTtlSeconds, an hour by default). With
// Google Workspace groups, each /ops page checks the session's groups and account as an MCP request does: once they are
// older than groups.ttlSeconds, a suspended administrator, or one no longer in adminGroups, loses the dashboard. The
// local IdP signs everyone in as dev@example.com; the group tests' origin answers no `account`, so this file adds it.

const DEV = "dev@example.com";
const ADMINS = "admins@example.com";
const VARIABLES = { GROUPS_SOURCE: "google-directory", GROUPS_TTL_SECONDS: "5", ADMIN_GROUPS: ADMINS, TOKEN_CACHE_SECONDS: "0" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PAST_THE_TTL = { timeout: 30_000 };

const accounts = new Map<string, AccountState>();
const realFetch = globalThis.fetch;
beforeAll(() => {
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    const space = [...accounts.keys()].find((origin) => url.startsWith(`${origin}/identity/groups`));
    const response = await realFetch(input, init);
    const account = space === undefined ? undefined : accounts.get(space);
    if (!account || !response.ok) return response;
    return Response.json({ ...((await response.json()) as object), account }, { status: response.status });
  };
});
afterAll(() => {
  globalThis.fetch = realFetch;
});
beforeEach(() => forgetValidatedTokens());

/** An administrator's dashboard session, whose groups the edge read at sign-in. */
async function adminSession(): Promise<{ edge: GroupsEdge; session: string }> {
  const edge = groupsEdge(VARIABLES);
  accounts.set(edge.origin, "active");
  await setOriginGroups(edge, DEV, [ADMINS]);
  const { session } = await signInToOps(edge);
  expect((await edge.call("/ops", { headers: { cookie: session } })).status).toBe(200);
  return { edge, session };
}

const page = (edge: GroupsEdge, session: string, path = "/ops") => edge.call(path, { headers: { cookie: session } });

describe("a dashboard session once its groups are older than groups.ttlSeconds", () => {
  it(
    "a suspended administrator is sent to sign in again (where the account is refused), and the tail answers 401",
    PAST_THE_TTL,
    async () => {
      const { edge, session } = await adminSession();
      accounts.set(edge.origin, "suspended");
      // Within the TTL the session's own groups count, as for an MCP request.
      expect((await page(edge, session)).status).toBe(200);
      await sleep(5_500);
      const refused = await page(edge, session);
      expect(refused.status).toBe(302);
      expect(refused.headers.get("location")).not.toContain("/ops");
      expect((await page(edge, session, "/ops/tail.json")).status).toBe(401);
      expect((await page(edge, session, "/ops/sign-ins")).status).toBe(302);
    },
  );

  it("an administrator no longer in adminGroups is refused as not an administrator", PAST_THE_TTL, async () => {
    const { edge, session } = await adminSession();
    await setOriginGroups(edge, DEV, ["eng@example.com"]);
    await sleep(5_500);
    const refused = await page(edge, session);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("This dashboard is for administrators");
  });

  it("while the groups cannot be read, the session opens nothing (fail closed, as MCP requests)", PAST_THE_TTL, async () => {
    const { edge, session } = await adminSession();
    await setOriginDown(edge, true);
    await sleep(5_500);
    expect((await page(edge, session)).status).toBe(302);
    expect((await page(edge, session, "/ops/tail.json")).status).toBe(401);
  });

  it("an administrator whose account is active and still in adminGroups goes on", PAST_THE_TTL, async () => {
    const { edge, session } = await adminSession();
    await sleep(5_500);
    expect((await page(edge, session)).status).toBe(200);
    // Let through to its source: the group tests' origin keeps no audit trail, hence 502, not 401 or 403.
    expect((await page(edge, session, "/ops/tail.json")).status).toBe(502);
  });
});
