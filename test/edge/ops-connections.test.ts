import { describe, expect, it } from "vitest";
import { csrfToken } from "../../worker/ops/sign-in/csrf.ts";
import { PUBLIC_URL } from "./edge-env.ts";
import { type GroupsEdge, groupsEdge, originSaw } from "./groups-sign-in.ts";
import { signInToOps, tamperedNotice } from "./ops-session.ts";

// /ops/connections in workerd: the list is asked of the origin under an `ops` assertion for an administrator and an
// `own-connections` one for anyone else; a Revoke form reaches the origin only with the session's CSRF token. The
// local IdP signs everyone in as dev@example.com, in the group "engineering". The origin's side (who sees and revokes
// what) is tested in test/origin/ops-connections.test.ts.
const ADMIN = { ADMIN_GROUPS: "engineering" };
const NOT_ADMIN = { ADMIN_GROUPS: "ops" };
const PAGE = "/ops/connections";
const REVOKE = "/ops/connections/revoke";

const opsSession = async (edge: GroupsEdge) => (await signInToOps(edge)).session;
/**
 * The CSRF token the page's forms carry, computed as the edge does from the session cookie: this test's origin lists
 * no connections the edge can read, so its page shows the problem and no form.
 */
const sessionToken = (session: string) => csrfToken(session.slice(session.indexOf("=") + 1));

const revocation = (csrf: string | undefined) =>
  new URLSearchParams({ user: "ana@example.com", server: "crm", ...(csrf === undefined ? {} : { csrf }) });

const post = (edge: GroupsEdge, cookie: string, body: URLSearchParams, headers: Record<string, string> = {}) =>
  edge.call(REVOKE, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie, ...headers },
    body,
  });

const originGot = async (edge: GroupsEdge, path: string) => (await originSaw(edge)).filter((seen) => seen.path === path);

describe("/ops/connections at the edge", () => {
  it("refuses a Revoke without the session's CSRF token, with another session's, or from another origin", async () => {
    const edge = groupsEdge(ADMIN);
    // Another session (signed in to its own edge: a second sign-in here would end the first).
    const other = groupsEdge(ADMIN);
    const otherToken = await sessionToken(await opsSession(other));
    const session = await opsSession(edge);
    const token = await sessionToken(session);
    expect(token).toMatch(/^[\w-]{43}$/);
    expect(otherToken).not.toBe(token);
    for (const forged of [undefined, "", otherToken, `${token.slice(0, -1)}x`]) {
      const refused = await post(edge, session, revocation(forged));
      expect(refused.status, String(forged)).toBe(403);
      expect(await refused.text()).toContain("This form was refused");
    }
    const crossSite = await post(edge, session, revocation(token), { origin: "https://evil.example" });
    expect(crossSite.status).toBe(403);
    // A body that is not a form (JSON, a multipart body without its boundary) is a form without its token: refused.
    for (const contentType of ["application/json", "multipart/form-data", "text/plain"]) {
      const notForm = await edge.call(REVOKE, {
        method: "POST",
        headers: { "content-type": contentType, cookie: session },
        body: JSON.stringify({ csrf: token }),
      });
      expect(notForm.status, contentType).toBe(403);
    }
    expect(await originGot(edge, REVOKE)).toEqual([]);
  });

  it("sends an administrator's list and Revoke to the origin under an ops assertion naming them", async () => {
    const edge = groupsEdge(ADMIN);
    const session = await opsSession(edge);
    const page = await edge.call(PAGE, { headers: { cookie: session } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain("<h1>Upstream connections</h1>");
    expect(html).toContain('<a href="/ops/connections" aria-current="page">Upstream connections</a>');
    expect(html).toContain("The connections could not be read");
    await post(edge, session, revocation(await sessionToken(session)), { origin: PUBLIC_URL });
    const [listed] = await originGot(edge, PAGE);
    const [revoked] = await originGot(edge, REVOKE);
    expect(listed?.claims).toMatchObject({ purpose: "ops", email: "dev@example.com" });
    expect(revoked?.claims).toMatchObject({ purpose: "ops", email: "dev@example.com" });
  });

  it("shows the sentence after a Revoke only when this session sealed it, never from a crafted link", async () => {
    const edge = groupsEdge(ADMIN);
    const session = await opsSession(edge);
    const spoof = `${PAGE}?revoked=0&who=${encodeURIComponent("everyone; your session expired: call the helpdesk")}`;
    // A browser calls same-origin the edge's own redirect to a client's redirect URI (the consent page's Deny) too.
    for (const site of [undefined, "none", "cross-site", "same-site", "same-origin"]) {
      const headers = { cookie: session, ...(site && { "sec-fetch-site": site }) };
      expect(await (await edge.call(spoof, { headers })).text(), String(site)).not.toContain("helpdesk");
    }
    await fetch(`${edge.origin}/_control/answer`, {
      method: "POST",
      body: JSON.stringify({ revoked: 1, by: "dev@example.com" }),
    });
    const revoked = await post(edge, session, revocation(await sessionToken(session)));
    const own = revoked.headers.get("location") ?? "";
    const shown = async (location: string) => await (await edge.call(location, { headers: { cookie: session } })).text();
    expect(await shown(own)).toContain("Revoked ana@example.com&#39;s connection to crm (1 removed).");
    // The user's address stays out of the URL (request logs, browser history): the facts travel sealed.
    expect(own).not.toContain("ana");
    expect(await shown(tamperedNotice(own))).not.toContain('role="status"');
    expect(await shown(`${own}&error=access_denied`)).not.toContain('role="status"');
  });

  it("serves a user who is not an administrator their own connections only, under an own-connections assertion", async () => {
    const edge = groupsEdge(NOT_ADMIN);
    const session = await opsSession(edge);
    const page = await edge.call(PAGE, { headers: { cookie: session } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("<h1>Your upstream connections</h1>");
    // No links to the administrators' pages, which would refuse this user.
    expect(html).not.toContain('aria-label="Dashboard pages"');
    await post(edge, session, revocation(await sessionToken(session)));
    const asked = (await originSaw(edge)).filter((seen) => seen.path.startsWith("/ops/"));
    expect(asked.map(({ path, claims }) => [path, claims.purpose, claims.email])).toEqual([
      [PAGE, "own-connections", "dev@example.com"],
      [REVOKE, "own-connections", "dev@example.com"],
    ]);
    // The administrators' pages still refuse this user.
    expect((await edge.call("/ops/pins", { headers: { cookie: session } })).status).toBe(403);
  });

  it("sends a signed-out browser to sign in, not to the origin", async () => {
    const edge = groupsEdge(ADMIN);
    for (const answer of [await edge.call(PAGE), await post(edge, "", revocation("anything"))]) {
      expect(answer.status).toBe(302);
      expect(answer.headers.get("location")).toMatch(/\/authorize\?/);
    }
    expect(await originSaw(edge)).toEqual([]);
  });
});
