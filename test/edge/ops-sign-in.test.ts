import { afterEach, describe, expect, it, vi } from "vitest";
import { EdgeConfig } from "../../contract/config/schema.ts";
import { edgeOAuth } from "../../worker/auth/authorization-server.ts";
import { edgeConfig } from "../../worker/config.ts";
import { cookieName, setCookie } from "../../worker/ops/sign-in/cookies.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL, testEnv } from "./edge-env.ts";
import { type GroupsEdge, groupsEdge, originSaw, registerThrough, signedIn } from "./groups-sign-in.ts";
import { heldCookies, opsCallbackOf, signInToOps, stateOf } from "./ops-session.ts";
import { pkcePair } from "./pkce.ts";
import { authorizeUrl, CLIENT_REDIRECT, codeExchange } from "./sign-in.ts";

// The ops dashboard's browser sign-in, in workerd against the local OpenID provider: /ops sends the browser through
// the edge's own /authorize as a first-party client, and opens only for a token of its own resource with mcp:admin.
// The local IdP signs everyone in here as dev@example.com, in the group "engineering" (id_token claim).
const ADMIN = { ADMIN_GROUPS: "engineering" };
const NOT_ADMIN = { ADMIN_GROUPS: "ops,platform" };
const OPS = `${PUBLIC_URL}/ops`;

const opsPage = (edge: GroupsEdge, cookie?: string) => edge.call("/ops", cookie ? { headers: { cookie } } : {});
const signOut = (edge: GroupsEdge, cookie: string, csrf: string | undefined, headers: Record<string, string> = {}) =>
  edge.call("/ops/sign-out", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie, ...headers },
    body: new URLSearchParams(csrf === undefined ? {} : { csrf }),
  });

afterEach(() => {
  vi.useRealTimers();
});

describe("/ops addresses that name no page of their own (s24 hunt pages F9)", () => {
  it.each([
    ["/ops/", "/ops"],
    ["/ops/sign-out", "/ops/signed-out"],
    ["/ops/pins/decide", "/ops/pins"],
    ["/ops/sign-ins/sign-out", "/ops/sign-ins"],
    ["/ops/connections/revoke", "/ops/connections"],
  ])("a GET of %s is sent to %s (303), not an empty 404", async (address, page) => {
    const edge = groupsEdge(ADMIN);
    const response = await edge.call(address, {});
    expect(response.status).toBe(303);
    expect(new URL(response.headers.get("location") ?? "", PUBLIC_URL).pathname).toBe(page);
  });
});

describe("/ops sign-in", () => {
  it("sends a browser without a session to the edge's /authorize: PKCE, mcp:admin, its own resource and callback", async () => {
    const answer = await opsPage(groupsEdge(ADMIN));
    expect(answer.status).toBe(302);
    const location = new URL(answer.headers.get("location") ?? "");
    expect(location.origin + location.pathname).toBe(`${PUBLIC_URL}/authorize`);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      response_type: "code",
      scope: "mcp:admin",
      resource: OPS,
      redirect_uri: `${OPS}/callback`,
      code_challenge_method: "S256",
    });
    const signIn = answer.headers.getSetCookie().find((line) => line.startsWith("mcp-ops-sign-in-"));
    expect(signIn).toMatch(/^mcp-ops-sign-in-[0-9a-f]{16}=[\w-]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/);
  });

  it("opens the dashboard to an administrator, and reads its figures under an ops assertion naming them", async () => {
    const edge = groupsEdge(ADMIN);
    const { session, finish } = await signInToOps(edge);
    expect(finish.status).toBe(303);
    expect(finish.headers.get("location")).toBe(OPS);
    expect(finish.headers.getSetCookie().find((line) => line.startsWith("mcp-ops="))).toMatch(/HttpOnly; SameSite=Lax/);
    const page = await opsPage(edge, session);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
    expect(page.headers.get("content-security-policy")).not.toMatch(/unsafe-inline/);
    expect(page.headers.get("cache-control")).toBe("no-store");
    const html = await page.text();
    expect(html).toContain("<h1>MCP traffic, last 24 hours</h1>");
    expect(html).toContain("Signed in as dev@example.com");
    const asked = (await originSaw(edge)).find((seen) => seen.path.startsWith("/ops/stats"));
    expect(asked?.claims).toMatchObject({ purpose: "ops", email: "dev@example.com" });
  });

  it("refuses a user without mcp:admin with a 403 page naming the scope, the admin groups and theirs", async () => {
    const edge = groupsEdge(NOT_ADMIN);
    const { session } = await signInToOps(edge);
    const page = await opsPage(edge, session);
    expect(page.status).toBe(403);
    const text = (await page.text()).replace(/<[^>]+>/g, "");
    expect(text).toContain("without the mcp:admin scope");
    expect(text).toContain("members of ops, platform (the edge's adminGroups)");
    expect(text).toContain("Your groupsengineering");
    expect((await edge.call("/ops/tail.json", { headers: { cookie: session } })).status).toBe(403);
    // No figures were read for them.
    expect((await originSaw(edge)).some((seen) => seen.path.startsWith("/ops/stats"))).toBe(false);
  });

  it("does not take a forged session cookie: back to sign-in, the cookie cleared", async () => {
    const edge = groupsEdge(ADMIN);
    const answer = await opsPage(edge, "mcp-ops=user:grant:forged-secret-value");
    expect(answer.status).toBe(302);
    expect(answer.headers.get("location")).toMatch(/\/authorize\?/);
    expect(answer.headers.getSetCookie()).toContain("mcp-ops=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    expect((await edge.call("/ops/tail.json", { headers: { cookie: "mcp-ops=forged" } })).status).toBe(401);
  });

  it("does not take an expired session", async () => {
    const edge = groupsEdge(ADMIN);
    const { session } = await signInToOps(edge);
    expect((await opsPage(edge, session)).status).toBe(200);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 2 * 3600_000 });
    expect((await opsPage(edge, session)).status).toBe(302);
  });

  it("does not take an MCP client's token, even one with mcp:admin: it is for another resource", async () => {
    const edge = groupsEdge(ADMIN);
    const tokens = await signedIn(edge, "mcp mcp:admin");
    expect(tokens.scope).toContain("mcp:admin");
    expect((await opsPage(edge, `mcp-ops=${tokens.access_token}`)).status).toBe(302);
  });

  it("refuses the dashboard's resource to any other client at /authorize (invalid_target), before any consent", async () => {
    const edge = groupsEdge(ADMIN);
    const clientId = await registerThrough(edge, "Some app");
    const { challenge } = await pkcePair();
    const response = await edge.call(authorizeUrl(clientId, challenge, { scope: "mcp:admin", resource: OPS }));
    expect(response.status).toBe(302);
    const back = new URL(response.headers.get("location") ?? "");
    expect(`${back.origin}${back.pathname}`).toBe(CLIENT_REDIRECT);
    expect(back.searchParams.get("error")).toBe("invalid_target");
  });

  it("does not take a dashboard token issued to another client (one minted past /authorize's check)", async () => {
    const edge = groupsEdge(ADMIN);
    const clientId = await registerThrough(edge, "Some app");
    const pkce = await pkcePair();
    const env = testEnv(edge.env);
    const { redirectTo } = await edgeOAuth(edgeConfig(env))
      .authorizationServer.getOAuthApi(env)
      .completeAuthorization({
        request: {
          responseType: "code",
          clientId,
          redirectUri: CLIENT_REDIRECT,
          scope: ["mcp:admin"],
          state: "s",
          codeChallenge: pkce.challenge,
          codeChallengeMethod: "S256",
          resource: OPS,
        },
        userId: "dev-user-1",
        metadata: {},
        scope: ["mcp:admin"],
        props: { sub: "dev-user-1", email: "dev@example.com", groups: ["engineering"] },
      });
    const code = new URL(redirectTo).searchParams.get("code") ?? "";
    const tokens = await edge.call("/oauth/token", codeExchange(clientId, code, pkce.verifier, OPS));
    expect(tokens.status).toBe(200);
    const { access_token } = (await tokens.json()) as { access_token: string };
    expect((await opsPage(edge, `mcp-ops=${access_token}`)).status).toBe(302);
  });

  it("gives a dashboard token that opens no MCP server", async () => {
    const edge = groupsEdge(ADMIN);
    const { session } = await signInToOps(edge);
    const token = session.slice("mcp-ops=".length);
    const mcp = await edge.call("/mcp/everything", {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(mcp.status).toBe(401);
  });

  it("refuses a callback from another browser (no sign-in cookie) or with another state", async () => {
    const edge = groupsEdge(ADMIN);
    const start = await opsPage(edge);
    const cookie = heldCookies(start);
    expect((await edge.call(`/ops/callback?code=x&state=${stateOf(start)}`)).status).toBe(400);
    const other = await edge.call(`/ops/callback?code=x&state=${stateOf(start)}-other`, { headers: { cookie } });
    expect(other.status).toBe(400);
    expect(await other.text()).toContain("This sign-in was not started in this browser");
  });

  it("audits a replayed sign-in code as auth.denied at /ops/callback, the library's check named; a sign-in as none (s25 review F9)", async () => {
    const audit = capturedAudit();
    const plain = groupsEdge(ADMIN);
    const edge = { ...plain, call: (path: string, init?: RequestInit) => callEdge(path, init, { ...plain.env, ...audit.env }) };
    const start = await opsPage(edge);
    const clientId = new URL(start.headers.get("location") ?? "").searchParams.get("client_id");
    const back = await opsCallbackOf(edge, start);
    const browser = { headers: { cookie: heldCookies(start) } };
    expect((await edge.call(back, browser)).status).toBe(303);
    const denied = () => audit.events.filter((event) => event.kind === "auth.denied");
    await expect.poll(() => audit.events.some((event) => event.kind === "auth.sign_in")).toBe(true);
    expect(denied()).toEqual([]);
    // The same return again, with a copy of its sign-in cookie: the code was used.
    const replayed = await edge.call(back, browser);
    expect(replayed.status).toBe(400);
    expect(await replayed.text()).toContain("its code was refused");
    expect([...replayed.headers.keys()].filter((name) => name.startsWith("mcp-edge"))).toEqual([]);
    await expect.poll(() => denied().length).toBe(1);
    expect(denied()[0]).toMatchObject({
      outcome: "denied",
      method: "/ops/callback (authorization-code-grant/code_replayed)",
      httpStatus: 400,
      clientId,
    });
  });

  it("finishes two sign-ins started in one browser at once (two tabs), each with its own cookie (s24 hunt pages F5)", async () => {
    const edge = groupsEdge(ADMIN);
    const first = await opsPage(edge);
    const second = await edge.call("/ops/pins", { headers: { cookie: heldCookies(first) } });
    let jar = heldCookies(first, second);
    expect(jar.split("; ")).toHaveLength(2);
    // The one started first comes back first (the other tab waits at the consent page): it finds its own cookie.
    const firstFinish = await edge.call(await opsCallbackOf(edge, first), { headers: { cookie: jar } });
    expect(firstFinish.status).toBe(303);
    const cleared = firstFinish.headers.getSetCookie().filter((line) => line.startsWith("mcp-ops-sign-in-"));
    expect(cleared).toEqual([expect.stringMatching(/^mcp-ops-sign-in-[0-9a-f]{16}=; .*Max-Age=0/)]);
    jar = jar
      .split("; ")
      .filter((pair) => !cleared[0]?.startsWith(pair.slice(0, pair.indexOf("=") + 1)))
      .join("; ");
    expect(jar.split("; ")).toHaveLength(1);
    const secondFinish = await edge.call(await opsCallbackOf(edge, second), { headers: { cookie: jar } });
    expect(secondFinish.status).toBe(303);
    expect((await opsPage(edge, heldCookies(secondFinish))).status).toBe(200);
  });

  it("refuses a return whose state has no cookie in this browser, though it holds another sign-in's (s24 hunt pages F5)", async () => {
    const edge = groupsEdge(ADMIN);
    const mine = await opsPage(edge);
    const theirs = await opsPage(edge);
    const back = await edge.call(await opsCallbackOf(edge, theirs), { headers: { cookie: heldCookies(mine) } });
    expect(back.status).toBe(400);
    expect(await back.text()).toContain("This sign-in was not started in this browser");
    expect(back.headers.getSetCookie().filter((line) => line.startsWith("mcp-ops"))).toEqual([]);
  });

  it("keeps at most four sign-ins under way in a browser: starting a fifth forgets the oldest", async () => {
    const edge = groupsEdge(ADMIN);
    const starts: Response[] = [];
    for (let started = 0; started < 4; started++) {
      starts.push(await edge.call("/ops/sign-in", { headers: { cookie: heldCookies(...starts) } }));
    }
    const fifth = await edge.call("/ops/sign-in", { headers: { cookie: heldCookies(...starts) } });
    const forgotten = fifth.headers.getSetCookie().filter((line) => /^mcp-ops-sign-in-\w+=;/.test(line));
    const oldest = heldCookies(starts[0] as Response);
    expect(forgotten).toEqual([expect.stringContaining(`${oldest.slice(0, oldest.indexOf("="))}=;`)]);
  });

  it("signs out with the session's CSRF token: the cookie cleared and its grant revoked, so a copy of it opens nothing", async () => {
    const edge = groupsEdge(ADMIN);
    const { session } = await signInToOps(edge);
    const html = await (await opsPage(edge, session)).text();
    expect(html).toMatch(/<form method="post" action="\/ops\/sign-out" class="sign-out">/);
    const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const out = await signOut(edge, session, token, { origin: PUBLIC_URL });
    // A GET page after the POST (s24 hunt pages F9): a reload or Back posts nothing again.
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/ops/signed-out");
    expect(out.headers.getSetCookie()).toContain("mcp-ops=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    const after = await edge.call("/ops/signed-out", {});
    expect(after.status).toBe(200);
    expect(await after.text()).toContain("You are signed out");
    // The copy of the cookie holds no session any more: the same page, and the cookie cleared.
    const withCopy = await edge.call("/ops/signed-out", { headers: { cookie: session } });
    expect(await withCopy.text()).toContain("You are signed out");
    // The old cookie, kept or copied, no longer opens the dashboard, its tail, or its forms.
    expect((await opsPage(edge, session)).status).toBe(302);
    expect((await edge.call("/ops/tail.json", { headers: { cookie: session } })).status).toBe(401);
    expect((await edge.call("/ops/pins", { headers: { cookie: session } })).status).toBe(302);
  });

  it("shows a browser that is still signed in who it is, and a sign-out button, at /ops/signed-out", async () => {
    const edge = groupsEdge(ADMIN);
    const { session } = await signInToOps(edge);
    const page = await edge.call("/ops/signed-out", { headers: { cookie: session } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("You are still signed in");
    expect(html).toContain("dev@example.com");
    const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
    expect(html).toMatch(/<form method="post" action="\/ops\/sign-out">/);
    expect((await signOut(edge, session, token)).status).toBe(303);
    expect((await opsPage(edge, session)).status).toBe(302);
  });

  it("says a form of a page opened before the session changed was refused for that, not as another site's (s24 hunt pages F9)", async () => {
    const edge = groupsEdge(ADMIN);
    const first = await signInToOps(edge);
    const oldToken = /name="csrf" value="([^"]+)"/.exec(await (await opsPage(edge, first.session)).text())?.[1] ?? "";
    // A sign-in in another tab: a new session in the cookie; the old page's forms carry the old session's token.
    const { session } = await signInToOps(edge);
    const changed = "Your dashboard session changed since this page was opened";
    const refusedSignOut = await signOut(edge, session, oldToken);
    expect(refusedSignOut.status).toBe(403);
    expect(await refusedSignOut.text()).toContain(changed);
    const refusedForm = await edge.call("/ops/sign-ins/sign-out", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: session },
      body: new URLSearchParams({ csrf: oldToken, email: "someone@example.com" }),
    });
    expect(refusedForm.status).toBe(403);
    expect(await refusedForm.text()).toContain(changed);
    // Without any token (another site's form), the refusal says that instead.
    const foreign = await (await signOut(edge, session, undefined)).text();
    expect(foreign).toContain("It did not come from this session's page");
    expect(foreign).not.toContain(changed);
    expect((await opsPage(edge, session)).status).toBe(200);
  });

  it("returns from a sign-in to the dashboard page that was asked for (s24 hunt pages F9)", async () => {
    for (const [asked, landing] of [
      ["/ops/sign-ins", "/ops/sign-ins"],
      ["/ops/pins", "/ops/pins"],
      ["/ops/connections", "/ops/connections"],
      ["/ops/sign-in?next=/ops/policy", "/ops/policy"],
    ] as const) {
      const edge = groupsEdge(ADMIN);
      const start = await edge.call(asked);
      const finish = await edge.call(await opsCallbackOf(edge, start), { headers: { cookie: heldCookies(start) } });
      expect(finish.status, asked).toBe(303);
      expect(finish.headers.get("location"), asked).toBe(`${PUBLIC_URL}${landing}`);
    }
  });

  it("returns a form posted after the session ended to the form's page, once signed in again", async () => {
    const edge = groupsEdge(ADMIN);
    const start = await edge.call("/ops/pins/decide", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: "x" }),
    });
    expect(start.status).toBe(302);
    const finish = await edge.call(await opsCallbackOf(edge, start), { headers: { cookie: heldCookies(start) } });
    expect(finish.headers.get("location")).toBe(`${PUBLIC_URL}/ops/pins`);
  });

  it.each([
    "//evil.example",
    "https://evil.example/ops",
    "/ops/../x",
    "/ops/pins/../../x",
    "/ops/%2e%2e/x",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/\\evil.example",
    "/ops/pins?x=1",
    "/OPS/pins",
    "/ops/callback",
    "/ops/sign-in",
    "",
  ])("never returns a sign-in to anything but a page of its own: next=%s lands on /ops", async (next) => {
    const edge = groupsEdge(ADMIN);
    const start = await edge.call(`/ops/sign-in?${new URLSearchParams({ next })}`);
    const finish = await edge.call(await opsCallbackOf(edge, start), { headers: { cookie: heldCookies(start) } });
    expect(finish.status).toBe(303);
    expect(finish.headers.get("location")).toBe(OPS);
  });

  it("refuses a sign-out without the session's CSRF token, with another's, or from another origin: the session goes on", async () => {
    const edge = groupsEdge(ADMIN);
    const { session } = await signInToOps(edge);
    const token = /name="csrf" value="([^"]+)"/.exec(await (await opsPage(edge, session)).text())?.[1] ?? "";
    const refusals = [
      await signOut(edge, session, undefined),
      await signOut(edge, session, `${token.slice(0, -1)}x`),
      await signOut(edge, session, token, { origin: "https://evil.example" }),
    ];
    for (const refused of refusals) {
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain("This sign-out was refused");
      expect(refused.headers.getSetCookie()).toEqual([]);
    }
    expect((await opsPage(edge, session)).status).toBe(200);
  });

  it("starts a new sign-in at GET /ops/sign-in and leaves the session as it is (any site can send a browser there)", async () => {
    const edge = groupsEdge(ADMIN);
    const { session } = await signInToOps(edge);
    const start = await edge.call("/ops/sign-in", { headers: { cookie: session } });
    expect(start.status).toBe(302);
    expect(start.headers.get("location")).toMatch(/\/authorize\?/);
    expect(start.headers.getSetCookie().filter((line) => line.startsWith("mcp-ops="))).toEqual([]);
    expect((await opsPage(edge, session)).status).toBe(200);
  });

  it("answers /ops/tail.json as JSON that no browser sniffs as anything else, whoever asks", async () => {
    const tailOf = async (edge: GroupsEdge, signIn: boolean) =>
      edge.call("/ops/tail.json", signIn ? { headers: { cookie: (await signInToOps(edge)).session } } : {});
    // One after the other: a sign-in of the same user ends their earlier session.
    const answers = [
      await tailOf(groupsEdge(ADMIN), false),
      await tailOf(groupsEdge(NOT_ADMIN), true),
      await tailOf(groupsEdge(ADMIN), true),
    ];
    // The test origin has no audit search: the administrator's answer is the 502 (whose headers the 200 shares).
    expect(answers.map((answer) => answer.status)).toEqual([401, 403, 502]);
    for (const answer of answers) {
      expect(answer.headers.get("content-type"), String(answer.status)).toMatch(/^application\/json/);
      expect(answer.headers.get("x-content-type-options"), String(answer.status)).toBe("nosniff");
    }
  });

  it("names its cookies __Host- with Secure on https", () => {
    const config = EdgeConfig.parse({
      publicUrl: "https://mcp.example.com",
      originUrl: "https://origin.example.com",
      idp: { issuer: "https://accounts.example.com", clientId: "c", clientSecret: "s" },
      signingKey: "k",
    });
    expect(cookieName(config, "session")).toBe("__Host-mcp-ops");
    expect(setCookie(config, "session", "v", 60)).toBe("__Host-mcp-ops=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure");
  });
});
