import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AccountState } from "../../contract/identity-groups.ts";
import { forgetValidatedTokens } from "../../worker/auth/token-cache.ts";
import { csrfToken } from "../../worker/ops/sign-in/csrf.ts";
import { PUBLIC_URL } from "./edge-env.ts";
import { type GroupsEdge, groupsEdge, mcpRequest, setOriginDown, setOriginGroups, signedIn } from "./groups-sign-in.ts";
import { signInToOps } from "./ops-session.ts";

// POST /ops/sign-out revokes the grant of whatever valid dashboard session the cookie holds, also one that opens no
// page just now (its groups cannot be read, its account is not active): a copy of the cookie would otherwise open the
// dashboard again once they are back, until the token expired (s21 review R7). A cookie that holds no dashboard
// session revokes nothing and is just cleared. The local IdP signs everyone in as dev@example.com.

const DEV = "dev@example.com";
const ADMINS = "admins@example.com";
const VARIABLES = { GROUPS_SOURCE: "google-directory", GROUPS_TTL_SECONDS: "5", ADMIN_GROUPS: ADMINS, TOKEN_CACHE_SECONDS: "0" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PAST_THE_TTL = { timeout: 30_000 };
const CLEARED = "mcp-ops=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";

// The group tests' origin answers no `account`: this file adds one per edge, as groups-ops-session.test.ts does.
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

const page = (edge: GroupsEdge, cookie: string) => edge.call("/ops", { headers: { cookie } });
const signOut = (edge: GroupsEdge, cookie: string, csrf?: string) =>
  edge.call("/ops/sign-out", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie, origin: PUBLIC_URL },
    body: new URLSearchParams(csrf === undefined ? {} : { csrf }),
  });

/** An administrator's dashboard session and the CSRF token of its page. */
async function adminSession(): Promise<{ edge: GroupsEdge; session: string; csrf: string }> {
  const edge = groupsEdge(VARIABLES);
  accounts.set(edge.origin, "active");
  await setOriginGroups(edge, DEV, [ADMINS]);
  const { session } = await signInToOps(edge);
  const opened = await page(edge, session);
  expect(opened.status).toBe(200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await opened.text())?.[1] ?? "";
  expect(csrf).not.toBe("");
  return { edge, session, csrf };
}

describe("/ops sign-out while the session's groups cannot be read", () => {
  it("revokes the session's grant: a copy of the cookie opens nothing once the groups are back", PAST_THE_TTL, async () => {
    const { edge, session, csrf } = await adminSession();
    await setOriginDown(edge, true);
    await sleep(5_500);
    const out = await signOut(edge, session, csrf);
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/ops/signed-out");
    expect(out.headers.getSetCookie()).toContain(CLEARED);
    await setOriginDown(edge, false);
    expect((await page(edge, session)).status).toBe(302);
    expect((await edge.call("/ops/tail.json", { headers: { cookie: session } })).status).toBe(401);
  });

  it("still needs the session's CSRF token: without it nothing is revoked or cleared", PAST_THE_TTL, async () => {
    const { edge, session } = await adminSession();
    await setOriginDown(edge, true);
    await sleep(5_500);
    const refused = await signOut(edge, session);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("This sign-out was refused");
    expect(refused.headers.getSetCookie()).toEqual([]);
    await setOriginDown(edge, false);
    expect((await page(edge, session)).status).toBe(200);
  });
});

describe("a dashboard session whose Workspace account is not active", () => {
  it(
    "is revoked at the first page that finds it so: it opens nothing once the account is active again",
    PAST_THE_TTL,
    async () => {
      const { edge, session } = await adminSession();
      accounts.set(edge.origin, "suspended");
      await sleep(5_500);
      expect((await page(edge, session)).status).toBe(302);
      accounts.set(edge.origin, "active");
      forgetValidatedTokens();
      await sleep(5_500);
      expect((await page(edge, session)).status).toBe(302);
    },
  );
});

describe("/ops sign-out with a cookie that holds no dashboard session", () => {
  it("revokes nothing for a forged token and still clears the cookie; the real session goes on", async () => {
    const { edge, session } = await adminSession();
    const [name, token] = [session.slice(0, session.indexOf("=")), session.slice(session.indexOf("=") + 1)];
    const forged = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    const out = await signOut(edge, `${name}=${forged}`, await csrfToken(forged));
    expect(out.status).toBe(303);
    expect(out.headers.getSetCookie()).toContain(CLEARED);
    expect((await page(edge, session)).status).toBe(200);
  });

  it("revokes nothing for an MCP client's token (another resource), even with its CSRF token, and clears the cookie", async () => {
    const { edge, session } = await adminSession();
    const mcp = await signedIn(edge);
    const before = (await mcpRequest(edge, mcp.access_token)).status;
    expect(before).not.toBe(401);
    const out = await signOut(edge, `mcp-ops=${mcp.access_token}`, await csrfToken(mcp.access_token));
    expect(out.status).toBe(303);
    expect(out.headers.getSetCookie()).toContain(CLEARED);
    expect((await mcpRequest(edge, mcp.access_token)).status).toBe(before);
    expect((await page(edge, session)).status).toBe(200);
  });
});
