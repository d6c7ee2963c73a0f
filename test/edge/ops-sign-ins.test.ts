import { beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { edgeOAuth, REFRESH_TOKEN_TTL_SECONDS } from "../../worker/auth/authorization-server.ts";
import { grantCode } from "../../worker/auth/grant-code.ts";
import { grantOwnerId } from "../../worker/auth/grant-owner.ts";
import { forgetValidatedTokens } from "../../worker/auth/token-cache.ts";
import { emailIndexKey, rememberGrantOwner } from "../../worker/auth/user-grants.ts";
import { edgeConfig } from "../../worker/config.ts";
import { csrfToken } from "../../worker/ops/sign-in/csrf.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL, testEnv } from "./edge-env.ts";
import { type GroupsEdge, groupsEdge } from "./groups-sign-in.ts";
import { signInToOps } from "./ops-session.ts";
import { pkcePair } from "./pkce.ts";
import { authorizeUrl, exchangeCode, mcpStatus, registerClient, signedInTokens, type Tokens, tokenRequest } from "./sign-in.ts";

// /ops/sign-ins in workerd: an administrator signs a user out everywhere at the edge. The local IdP signs everyone in
// as dev@example.com (sub dev-user-1, group "engineering"), the administrator included; other users' grants are made
// here as the edge's callback makes them (grantCode), for a user the IdP would have sent.
const ADMIN = { ADMIN_GROUPS: "engineering" };
const NOT_ADMIN = { ADMIN_GROUPS: "ops" };
const PAGE = "/ops/sign-ins";
const SIGN_OUT = "/ops/sign-ins/sign-out";
const DEV = { email: "dev@example.com", sub: "dev-user-1" };

/** An edge of the group tests' origin whose every call also has these bindings (an audit capture, a cache window). */
function edgeWith(variables: Record<string, string>, extra: Record<string, unknown> = {}): GroupsEdge {
  const edge = groupsEdge(variables);
  return { ...edge, call: (path, init) => callEdge(path, init, { ...edge.env, ...extra }) };
}

const sessionCsrf = (session: string) => csrfToken(session.slice(session.indexOf("=") + 1));

const signOut = (edge: GroupsEdge, session: string, email: string, csrf: string | undefined, headers = {}) =>
  edge.call(SIGN_OUT, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: session, ...headers },
    body: new URLSearchParams({ email, ...(csrf === undefined ? {} : { csrf }) }),
  });

const oauthApi = () => edgeOAuth(edgeConfig(testEnv())).authorizationServer.getOAuthApi(testEnv());
const grantsOf = async (sub: string) => (await oauthApi().listUserGrants(await grantOwnerId(sub))).items;

const refreshStatus = async (tokens: Tokens, clientId: string) => {
  const answer = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: clientId });
  return { status: answer.status, error: ((await answer.json()) as { error?: string }).error };
};

/** Tokens of a user the local IdP does not know, granted as the edge's callback grants them. */
async function tokensOf(user: { sub: string; email: string }): Promise<Tokens & { clientId: string }> {
  const oauth = oauthApi();
  const clientId = await registerClient("Another user's client");
  const pkce = await pkcePair();
  const request = await oauth.parseAuthRequest(new Request(new URL(authorizeUrl(clientId, pkce.challenge), PUBLIC_URL)));
  const back = new URL(await grantCode(oauth, request, { ...user, groups: [] }, [], testEnv().OAUTH_KV));
  const answer = await exchangeCode(clientId, back.searchParams.get("code") ?? "", pkce.verifier);
  expect(answer.status).toBe(200);
  return { ...((await answer.json()) as Tokens), clientId };
}

/** dev@example.com signed in with two MCP clients. */
async function devWithTwoClients() {
  const clients = [await registerClient("Laptop client"), await registerClient("Desktop client")];
  const tokens = [await signedInTokens(clients[0] as string), await signedInTokens(clients[1] as string)];
  return { clients, tokens };
}

/** The page a sign-out's redirect leads to, as this session sees it. */
const shownAfter = async (edge: GroupsEdge, session: string, done: Response) =>
  await (await edge.call(done.headers.get("location") ?? "", { headers: { cookie: session } })).text();

const signedOutEvents = (events: AuditEvent[]) => events.filter((event) => event.kind === "auth.user_signed_out");

describe("signing a user out everywhere (/ops/sign-ins)", () => {
  beforeEach(() => forgetValidatedTokens());

  it("revokes every grant of the user: both clients' access tokens refused (cache off) and refresh tokens invalid_grant, audited", async () => {
    const audit = capturedAudit();
    const off = { TOKEN_CACHE_SECONDS: "0" };
    const edge = edgeWith({ ...ADMIN, ...off }, audit.env);
    const { session } = await signInToOps(edge);
    const { clients, tokens } = await devWithTwoClients();
    const other = await tokensOf({ sub: "other-user-1", email: "other@example.com" });
    for (const { access_token } of [...tokens, other]) expect(await mcpStatus(access_token, "everything", off)).toBe(503);
    // The two clients and the administrator's own dashboard session (the local IdP's only user is both).
    const before = (await grantsOf(DEV.sub)).length;
    expect(before).toBeGreaterThanOrEqual(3);

    const page = await edge.call(PAGE, { headers: { cookie: session } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<a href="/ops/sign-ins" aria-current="page">Sign-ins</a>');
    expect(html).toContain('<a href="/ops/connections">upstream connections</a>');
    expect(html).toContain("Disable the account");
    const done = await signOut(edge, session, " Dev@Example.com", await sessionCsrf(session), { origin: PUBLIC_URL });
    expect(done.status).toBe(303);
    const location = new URL(done.headers.get("location") ?? "", PUBLIC_URL);
    expect(location.pathname).toBe(PAGE);
    // The address stays out of the URL (request logs, browser history keep it): the facts travel sealed.
    expect([...location.searchParams.keys()]).toEqual(["notice"]);
    expect(location.search).not.toContain("example");

    for (const { access_token } of tokens) expect(await mcpStatus(access_token, "everything", off)).toBe(401);
    for (const [index, token] of tokens.entries())
      expect(await refreshStatus(token, clients[index] as string)).toEqual({ status: 400, error: "invalid_grant" });
    expect(await grantsOf(DEV.sub)).toEqual([]);
    // The administrator was that user too: their dashboard session ended with the rest.
    expect((await edge.call(PAGE, { headers: { cookie: session } })).status).toBe(302);
    // Another user's grant is untouched.
    expect(await mcpStatus(other.access_token, "everything", off)).toBe(503);
    expect((await refreshStatus(other, other.clientId)).status).toBe(200);

    const [event, ...more] = signedOutEvents(audit.events);
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      kind: "auth.user_signed_out",
      outcome: "ok",
      userEmail: DEV.email,
      userSub: DEV.sub,
      clientId: `operator:${DEV.email}`,
      count: before,
    });
  });

  it("refuses the revoked access tokens in this isolate at once, although it had them cached", async () => {
    const edge = edgeWith(ADMIN);
    const { session } = await signInToOps(edge);
    const { tokens } = await devWithTwoClients();
    // Validated, so remembered for tokenCacheSeconds (30 here).
    for (const { access_token } of tokens) expect(await mcpStatus(access_token)).toBe(503);
    expect((await signOut(edge, session, DEV.email, await sessionCsrf(session))).status).toBe(303);
    for (const { access_token } of tokens) expect(await mcpStatus(access_token)).toBe(401);
  });

  it("reports no sign-ins found for an unknown e-mail and revokes nothing", async () => {
    const audit = capturedAudit();
    const edge = edgeWith(ADMIN, audit.env);
    const { session } = await signInToOps(edge);
    const { tokens } = await devWithTwoClients();
    const before = (await grantsOf(DEV.sub)).length;
    const done = await signOut(edge, session, "nobody@example.com", await sessionCsrf(session));
    expect(done.status).toBe(303);
    expect(await shownAfter(edge, session, done)).toContain("No sign-ins found for nobody@example.com: nothing was revoked.");
    expect((await grantsOf(DEV.sub)).length).toBe(before);
    for (const { access_token } of tokens) expect(await mcpStatus(access_token)).toBe(503);
    const [event, ...more] = signedOutEvents(audit.events);
    expect(more).toEqual([]);
    expect(event).toMatchObject({ userEmail: "nobody@example.com", clientId: `operator:${DEV.email}` });
    expect(event?.count).toBeUndefined();
    // The address is said back escaped.
    const crafted = await signOut(edge, session, "<b>x</b>@example.com", await sessionCsrf(session));
    const said = await shownAfter(edge, session, crafted);
    expect(said).toContain("No sign-ins found for &#60;b&#62;x&#60;/b&#62;@example.com");
    expect(said).not.toContain("<b>x</b>");
  });

  it("checks each grant's own e-mail: an index entry naming another user's id revokes nothing of theirs", async () => {
    const edge = edgeWith(ADMIN);
    const { session } = await signInToOps(edge);
    const other = await tokensOf({ sub: "other-user-2", email: "other2@example.com" });
    await rememberGrantOwner(testEnv().OAUTH_KV, "leaver@example.com", await grantOwnerId("other-user-2"));
    const done = await signOut(edge, session, "leaver@example.com", await sessionCsrf(session));
    expect(await shownAfter(edge, session, done)).toContain("No sign-ins found for leaver@example.com");
    expect(await grantsOf("other-user-2")).toHaveLength(1);
    expect(await mcpStatus(other.access_token)).toBe(503);
  });

  it("signs out every subject an address signed in under (an IdP that changed a user's sub), whatever the case", async () => {
    const audit = capturedAudit();
    const edge = edgeWith(ADMIN, audit.env);
    const { session } = await signInToOps(edge);
    const first = await tokensOf({ sub: "twin-sub-a", email: "Twin@Example.com" });
    const second = await tokensOf({ sub: "twin-sub-b", email: "twin@example.com" });
    const done = await signOut(edge, session, "TWIN@example.com", await sessionCsrf(session));
    expect(await shownAfter(edge, session, done)).toContain("Signed twin@example.com out everywhere: 2 sign-ins revoked.");
    for (const tokens of [first, second]) expect(await mcpStatus(tokens.access_token)).toBe(401);
    const [event] = signedOutEvents(audit.events);
    expect(event?.count).toBe(2);
    expect([...((event?.arguments?.subs ?? []) as string[])].toSorted()).toEqual(["twin-sub-a", "twin-sub-b"]);
  });

  it("says how far a sign-out got when it fails part of the way, audits that, and finishes when tried again", async () => {
    const audit = capturedAudit();
    let grantDeletes: number | undefined; // counted from the sign-out on
    const kv = testEnv().OAUTH_KV;
    // The store refuses to delete a second grant record: the first grant is revoked, then the sign-out stops.
    const refusing = new Proxy(kv, {
      get(target, property) {
        if (property === "delete")
          return async (key: string) => {
            if (key.startsWith("grant:") && grantDeletes !== undefined && grantDeletes++ >= 1)
              throw new Error("KV refused the delete");
            return target.delete(key);
          };
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const edge = edgeWith(ADMIN, { ...audit.env, OAUTH_KV: refusing });
    const { session } = await signInToOps(edge);
    const grants = [await tokensOf({ sub: "part-sub-a", email: "part@example.com" })];
    grants.push(await tokensOf({ sub: "part-sub-b", email: "part@example.com" }));
    grantDeletes = 0;
    const stopped = await signOut(edge, session, "part@example.com", await sessionCsrf(session));
    expect(stopped.status).toBe(500);
    const text = (await stopped.text()).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
    expect(text).toContain("1 sign-in of part@example.com revoked before a failure");
    expect(text).toContain("sign part@example.com out again: it revokes what is left");
    expect(signedOutEvents(audit.events)).toMatchObject([{ outcome: "error", count: 1, httpStatus: 500 }]);
    const left = [...(await grantsOf("part-sub-a")), ...(await grantsOf("part-sub-b"))];
    expect(left).toHaveLength(1);

    const again = edgeWith(ADMIN);
    const finished = await signOut(again, session, "part@example.com", await sessionCsrf(session));
    expect(await shownAfter(again, session, finished)).toContain("Signed part@example.com out everywhere: 1 sign-in revoked.");
    for (const tokens of grants) expect(await mcpStatus(tokens.access_token)).toBe(401);
  });

  it("keeps the index entry at least as long as the grant it finds can live, under a key that hides the address", async () => {
    await signedInTokens(await registerClient());
    const key = await emailIndexKey(DEV.email);
    expect(key).not.toContain("dev");
    const listed = await testEnv().OAUTH_KV.list({ prefix: key });
    const expiration = listed.keys[0]?.expiration ?? 0;
    const grants = await grantsOf(DEV.sub);
    expect(grants.length).toBeGreaterThan(0);
    for (const grant of grants) expect(expiration).toBeGreaterThanOrEqual(grant.expiresAt ?? Number.POSITIVE_INFINITY);
    expect(expiration).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + REFRESH_TOKEN_TTL_SECONDS + 2 * 86_400);
  });
});

describe("who may sign a user out (/ops/sign-ins/sign-out)", () => {
  beforeEach(() => forgetValidatedTokens());

  it("refuses a signed-in user who is not an administrator, and revokes nothing", async () => {
    const edge = edgeWith(NOT_ADMIN);
    const { session } = await signInToOps(edge);
    const { tokens } = await devWithTwoClients();
    const before = (await grantsOf(DEV.sub)).length;
    expect((await edge.call(PAGE, { headers: { cookie: session } })).status).toBe(403);
    const refused = await signOut(edge, session, DEV.email, await sessionCsrf(session), { origin: PUBLIC_URL });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("This dashboard is for administrators");
    expect((await grantsOf(DEV.sub)).length).toBe(before);
    for (const { access_token } of tokens) expect(await mcpStatus(access_token)).toBe(503);
  });

  it("refuses a form without the session's CSRF token, with a forged one, or posted from another site", async () => {
    const audit = capturedAudit();
    const edge = edgeWith(ADMIN, audit.env);
    const other = edgeWith(ADMIN);
    const otherToken = await sessionCsrf((await signInToOps(other)).session);
    const { session } = await signInToOps(edge);
    const token = await sessionCsrf(session);
    const { tokens } = await devWithTwoClients();
    const before = (await grantsOf(DEV.sub)).length;
    for (const forged of [undefined, "", otherToken, `${token.slice(0, -1)}x`]) {
      const refused = await signOut(edge, session, DEV.email, forged);
      expect(refused.status, String(forged)).toBe(403);
      expect(await refused.text()).toContain("This form was refused");
    }
    const crossSite = await signOut(edge, session, DEV.email, token, {
      origin: "https://evil.example",
      "sec-fetch-site": "cross-site",
    });
    expect(crossSite.status).toBe(403);
    expect((await grantsOf(DEV.sub)).length).toBe(before);
    for (const { access_token } of tokens) expect(await mcpStatus(access_token)).toBe(503);
    expect(signedOutEvents(audit.events)).toEqual([]);
  });

  it("sends a signed-out browser to sign in, and refuses an address it cannot read", async () => {
    const edge = edgeWith(ADMIN);
    const answer = await signOut(edge, "", DEV.email, "anything");
    expect(answer.status).toBe(302);
    expect(answer.headers.get("location")).toMatch(/\/authorize\?/);
    const { session } = await signInToOps(edge);
    for (const email of ["", "not an address", `${"a".repeat(320)}@example.com`]) {
      const refused = await signOut(edge, session, email, await sessionCsrf(session));
      expect(refused.status, email).toBe(400);
    }
    expect((await grantsOf(DEV.sub)).length).toBeGreaterThan(0);
  });
});
