import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import type { AccountState } from "../../contract/identity-groups.ts";
import { edgeOAuth } from "../../worker/auth/authorization-server.ts";
import { grantOwnerId } from "../../worker/auth/grant-owner.ts";
import { GroupsRefusal, signInGroups } from "../../worker/auth/groups/grant-groups.ts";
import { forgetValidatedTokens } from "../../worker/auth/token-cache.ts";
import { edgeConfig } from "../../worker/config.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, testEnv } from "./edge-env.ts";
import {
  type GrantedTokens,
  type GroupsEdge,
  groupsEdge,
  mcpRequest,
  originSaw,
  setOriginGroups,
  signedIn,
  signInThrough,
} from "./groups-sign-in.ts";

// Offboarding from Google Workspace at the edge: when the origin's look-up (google.checkAccounts) says the user's
// account is suspended, archived or deleted, an MCP request is refused 401, a refresh invalid_grant and a sign-in 403,
// and every grant of the user is revoked, audited once as auth.user_signed_out by directory:google. The local IdP signs
// everyone in here as dev@example.com (sub dev-user-1).
//
// The group tests' origin (test/edge/node/groups-origin-setup.ts) answers no `account`: this file adds it to the
// answers of its namespaces that a test gave a state, as an origin with checkAccounts writes it (the origin's side is
// tested against the fake Google in test/origin/google-accounts.test.ts).

const DEV = { email: "dev@example.com", sub: "dev-user-1" };
const DIRECTORY = { GROUPS_SOURCE: "google-directory", TOKEN_CACHE_SECONDS: "0" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PAST_THE_TTL = { timeout: 30_000 };

const accounts = new Map<string, AccountState | undefined>();
const realFetch = globalThis.fetch;
beforeAll(() => {
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    const space = [...accounts.keys()].find((origin) => url.startsWith(`${origin}/identity/groups`));
    const response = await realFetch(input, init);
    const account = space === undefined ? undefined : accounts.get(space);
    if (!account || !response.ok) return response;
    const body = (await response.json()) as Record<string, unknown>;
    return Response.json({ ...body, account }, { status: response.status });
  };
});
afterAll(() => {
  globalThis.fetch = realFetch;
});
beforeEach(() => forgetValidatedTokens());

/** What this test's origin says of the user's account from now on (undefined: nothing, as an origin that does not check). */
const setAccount = (edge: GroupsEdge, account: AccountState | undefined) => void accounts.set(edge.origin, account);

/** An edge of the group tests' origin whose every call also has the audit capture's queue. */
function offboardingEdge(variables: Record<string, string>) {
  const audit = capturedAudit();
  const edge = groupsEdge({ ...DIRECTORY, ...variables });
  const bindings = { ...edge.env, ...audit.env };
  return { ...edge, bindings, audit, call: (path: string, init?: RequestInit) => callEdge(path, init, bindings) };
}

const oauthApi = () => edgeOAuth(edgeConfig(testEnv())).authorizationServer.getOAuthApi(testEnv());
const grantsOfDev = async () => (await oauthApi().listUserGrants(await grantOwnerId(DEV.sub))).items;

const refresh = async (edge: GroupsEdge, tokens: GrantedTokens & { clientId: string }) => {
  const answer = await edge.call("/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: tokens.clientId }),
  });
  return { status: answer.status, body: (await answer.json()) as { error?: string; error_description?: string } };
};

const signedOutEvents = (events: AuditEvent[]) => events.filter((event) => event.kind === "auth.user_signed_out");
const mcpRequestsSeen = async (edge: GroupsEdge) =>
  (await originSaw(edge)).filter((seen) => seen.path.startsWith("/servers/")).length;

/** dev@example.com signed in with two MCP clients, in groups, with nothing said of their account yet. */
async function devWithTwoClients(edge: GroupsEdge) {
  await setOriginGroups(edge, DEV.email, ["eng@example.com"]);
  const laptop = await signedIn(edge);
  const desktop = await signedIn(edge);
  return { laptop, desktop };
}

/** Both clients' grants are gone: their access tokens and refresh tokens open nothing, whatever the origin says now. */
async function expectRevoked(edge: GroupsEdge, clients: (GrantedTokens & { clientId: string })[]) {
  setAccount(edge, undefined);
  for (const tokens of clients) {
    expect((await mcpRequest(edge, tokens.access_token)).status).toBe(401);
    expect((await refresh(edge, tokens)).body.error).toBe("invalid_grant");
  }
  expect(await grantsOfDev()).toEqual([]);
}

describe("an account the Workspace suspended, archived or deleted", () => {
  it(
    "an MCP request past the TTL is refused 401 invalid_token saying why, and every grant of the user is revoked",
    PAST_THE_TTL,
    async () => {
      const edge = offboardingEdge({ GROUPS_TTL_SECONDS: "5" });
      const { laptop, desktop } = await devWithTwoClients(edge);
      expect((await mcpRequest(edge, laptop.access_token)).status).toBe(200);
      setAccount(edge, "suspended");
      // Within the TTL the grant's groups still count: the account is read again with them.
      expect((await mcpRequest(edge, laptop.access_token)).status).toBe(200);
      await sleep(5_500);
      const before = (await grantsOfDev()).length;
      expect(before).toBeGreaterThanOrEqual(2);
      const seen = await mcpRequestsSeen(edge);

      const refused = await mcpRequest(edge, laptop.access_token);
      expect(refused.status).toBe(401);
      const challenge = refused.headers.get("www-authenticate") ?? "";
      expect(challenge).toMatch(/^Bearer realm="OAuth", error="invalid_token", error_description="[^"]*suspended[^"]*"/);
      expect(challenge).toContain(
        'resource_metadata="http://localhost:8787/.well-known/oauth-protected-resource/mcp/everything"',
      );
      const body = (await refused.json()) as { jsonrpc: string; error: { message: string } };
      expect(body.jsonrpc).toBe("2.0");
      expect(body.error.message).toMatch(/Google Workspace account is suspended.*ask a Workspace administrator/);
      expect(await mcpRequestsSeen(edge)).toBe(seen);
      // The edge's own refusal of an accepted token is no refused token: no anonymous auth.denied beside it.
      expect(edge.audit.events.filter((audited) => audited.kind === "auth.denied")).toEqual([]);
      expect(refused.headers.has("mcp-edge-answered-by-handler")).toBe(false);

      // Revoked before the answer: the other client's tokens are dead too, although its groups are fresh.
      await expectRevoked(edge, [laptop, desktop]);
      const [event, ...more] = signedOutEvents(edge.audit.events);
      expect(more).toEqual([]);
      expect(event).toMatchObject({
        outcome: "ok",
        userEmail: DEV.email,
        userSub: DEV.sub,
        clientId: "directory:google",
        count: before,
        httpStatus: 401,
        arguments: { account: "suspended", refused: "mcp-request", refusedClient: laptop.clientId },
      });
    },
  );

  it("a refresh is refused invalid_grant saying why, and every grant of the user is revoked once its turn is over", async () => {
    const edge = offboardingEdge({});
    const { laptop, desktop } = await devWithTwoClients(edge);
    const before = (await grantsOfDev()).length;
    setAccount(edge, "archived");
    const started = Date.now();
    const refused = await refresh(edge, laptop);
    // Signing out inside the refresh's own turn would wait for that turn (30 s) before anything else.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe("invalid_grant");
    expect(refused.body.error_description).toMatch(/Google Workspace account is archived.*ask a Workspace administrator/);
    await expectRevoked(edge, [laptop, desktop]);
    const [event, ...more] = signedOutEvents(edge.audit.events);
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      outcome: "ok",
      userEmail: DEV.email,
      clientId: "directory:google",
      count: before,
      httpStatus: 400,
      arguments: { account: "archived", refused: "refresh", refusedClient: laptop.clientId },
    });
    // The refresh itself is a refused authentication, with the check (s24 hunt observability F15); expectRevoked's
    // own refused tokens follow it.
    expect(edge.audit.events.find((audited) => audited.kind === "auth.denied")).toEqual(
      expect.objectContaining({
        method: "/oauth/token (token-exchange-callback/account_not_active)",
        httpStatus: 400,
        clientId: laptop.clientId,
      }),
    );
  });

  it("a sign-in is refused with a 403 page that says why, grants no code, and revokes what the user still has", async () => {
    const edge = offboardingEdge({});
    const { laptop, desktop } = await devWithTwoClients(edge);
    setAccount(edge, "deleted");
    const { callback } = await signInThrough(edge);
    expect(callback.status).toBe(403);
    expect(callback.headers.get("location")).toBeNull();
    const page = await callback.text();
    expect(page).toContain("Signing in was refused");
    expect(page).toMatch(/Google Workspace account is deleted \(or not a user of the Workspace\)/);
    expect(page).toContain("ask a Workspace administrator");
    await expectRevoked(edge, [laptop, desktop]);
    expect(signedOutEvents(edge.audit.events)).toEqual([
      expect.objectContaining({ clientId: "directory:google", arguments: expect.objectContaining({ refused: "sign-in" }) }),
    ]);
    expect(edge.audit.events.filter((audited) => audited.method?.startsWith("/callback"))).toEqual([
      expect.objectContaining({
        kind: "auth.denied",
        method: "/callback (account_not_active)",
        outcome: "denied",
        httpStatus: 403,
        userSub: DEV.sub,
      }),
    ]);
  });

  it("the sign-in's step, given the request's context, also revokes the grants the user still has, audited once", async () => {
    const edge = offboardingEdge({});
    const { laptop, desktop } = await devWithTwoClients(edge);
    const before = (await grantsOfDev()).length;
    setAccount(edge, "suspended");
    const env = testEnv(edge.bindings);
    const waits: Promise<unknown>[] = [];
    const ctx = { waitUntil: (promise: Promise<unknown>) => void waits.push(promise), passThroughOnException: () => {} };
    const user = { ...DEV, groups: [] };
    const answer = await signInGroups(edgeConfig(env), user, "new-client", { env, ctx: ctx as unknown as ExecutionContext });
    await Promise.allSettled(waits);
    expect(answer).toBeInstanceOf(GroupsRefusal);
    expect((answer as GroupsRefusal).step).toBe("account_not_active");
    expect((answer as GroupsRefusal).page.status).toBe(403);
    await expectRevoked(edge, [laptop, desktop]);
    expect(signedOutEvents(edge.audit.events)).toEqual([
      expect.objectContaining({
        clientId: "directory:google",
        count: before,
        httpStatus: 403,
        arguments: { account: "suspended", refused: "sign-in", refusedClient: "new-client" },
      }),
    ]);
  });
});

describe("users the Directory does not say are gone", () => {
  it.each([
    ["an active account", "active"],
    ["an origin that sends no account (older, or checkAccounts off)", undefined],
    ["a state a newer origin added, which this edge does not know", "on_hold" as AccountState],
  ] as const)("%s: requests past the TTL, refreshes and sign-ins go on, nothing revoked", PAST_THE_TTL, async (_, account) => {
    const edge = offboardingEdge({ GROUPS_TTL_SECONDS: "5" });
    setAccount(edge, account);
    const { laptop, desktop } = await devWithTwoClients(edge);
    await sleep(5_500);
    expect((await mcpRequest(edge, laptop.access_token)).status).toBe(200);
    const next = await refresh(edge, desktop);
    expect(next.status).toBe(200);
    expect((await mcpRequest(edge, laptop.access_token)).status).toBe(200);
    expect((await signInThrough(edge)).callback.status).toBe(302);
    expect(signedOutEvents(edge.audit.events)).toEqual([]);
  });
});
