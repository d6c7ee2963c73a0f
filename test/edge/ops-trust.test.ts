import { describe, expect, it } from "vitest";
import { WaitingDefinitions } from "../../contract/ops-trust.ts";
import { pinsPage } from "../../worker/ops/pages/pins.ts";
import { PUBLIC_URL } from "./edge-env.ts";
import { type GroupsEdge, groupsEdge, originSaw } from "./groups-sign-in.ts";
import { signInToOps, tamperedNotice } from "./ops-session.ts";

// The trust-control pages of /ops in workerd: Approve/Reject and the dry run are POST forms that reach the origin only
// for an administrator's session carrying that session's CSRF token. The local IdP signs everyone in as
// dev@example.com, in the group "engineering".
const ADMIN = { ADMIN_GROUPS: "engineering" };
const NOT_ADMIN = { ADMIN_GROUPS: "ops" };
const FINGERPRINT = "a".repeat(64);

const opsSession = async (edge: GroupsEdge) => (await signInToOps(edge)).session;

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
/** The CSRF token of the session's forms, as its dry-run page carries it. */
const tokenOf = async (edge: GroupsEdge, session: string) =>
  csrfOf(await (await edge.call("/ops/policy", { headers: { cookie: session } })).text());

const decision = (csrf: string | undefined) => {
  const fields: Record<string, string> = {
    server: "github",
    kind: "tool",
    name: "delete_repo",
    fingerprint: FINGERPRINT,
    decision: "approve",
  };
  return new URLSearchParams(csrf === undefined ? fields : { ...fields, csrf });
};

const post = (edge: GroupsEdge, path: string, cookie: string, body: URLSearchParams, headers: Record<string, string> = {}) =>
  edge.call(path, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", cookie, ...headers }, body });

const originGot = async (edge: GroupsEdge, path: string) => (await originSaw(edge)).filter((seen) => seen.path === path);

describe("/ops trust controls at the edge", () => {
  it("refuses a decision without the session's CSRF token, with another session's, or from another origin", async () => {
    const edge = groupsEdge(ADMIN);
    // Another administrator's session (signed in to its own edge: a second sign-in here would end the first).
    const other = groupsEdge(ADMIN);
    const otherSession = await opsSession(other);
    const otherToken = await tokenOf(other, otherSession);
    const session = await opsSession(edge);
    const page = await edge.call("/ops/policy", { headers: { cookie: session } });
    const token = csrfOf(await page.text());
    expect(token).toMatch(/^[\w-]{43}$/);
    expect(otherToken).not.toBe(token);
    for (const forged of [undefined, "", otherToken, `${token.slice(0, -1)}x`]) {
      const refused = await post(edge, "/ops/pins/decide", session, decision(forged));
      expect(refused.status, String(forged)).toBe(403);
      expect(await refused.text()).toContain("This form was refused");
    }
    const crossSite = await post(edge, "/ops/pins/decide", session, decision(token), { origin: "https://evil.example" });
    expect(crossSite.status).toBe(403);
    const dryRun = await post(
      edge,
      "/ops/policy",
      session,
      new URLSearchParams({ candidate: "{}", days: "7", csrf: otherToken }),
    );
    expect(dryRun.status).toBe(403);
    expect(await originGot(edge, "/ops/pins/decide")).toEqual([]);
    expect(await originGot(edge, "/ops/policy/dry-run")).toEqual([]);
  });

  it("sends a decision with the session's token to the origin under an ops assertion naming the administrator", async () => {
    const edge = groupsEdge(ADMIN);
    const session = await opsSession(edge);
    const token = await tokenOf(edge, session);
    const decided = await post(edge, "/ops/pins/decide", session, decision(token), { origin: PUBLIC_URL });
    expect(decided.status).toBe(303);
    expect(decided.headers.get("location")).toMatch(/^\/ops\/pins\?notice=[\w-]+$/);
    const [asked] = await originGot(edge, "/ops/pins/decide");
    expect(asked?.claims).toMatchObject({ purpose: "ops", email: "dev@example.com" });
  });

  it("shows the sentence after a decision only when this session sealed it, never from a crafted link", async () => {
    const edge = groupsEdge(ADMIN);
    const session = await opsSession(edge);
    // The edge itself follows a client's redirect URI into /ops (the consent page's Deny): a browser calls that
    // navigation same-origin, so no Fetch Metadata value may open the sentence to a crafted query.
    const spoof = "/ops/pins?decided=approve&what=everything%2C+your+session+expired%3A+call+the+helpdesk";
    for (const site of [undefined, "none", "cross-site", "same-site", "same-origin"]) {
      const headers = { cookie: session, ...(site && { "sec-fetch-site": site }) };
      const page = await (await edge.call(spoof, { headers })).text();
      expect(page, String(site)).not.toContain("helpdesk");
      expect(page, String(site)).not.toContain('role="status"');
    }
    const token = await tokenOf(edge, session);
    const own = (await post(edge, "/ops/pins/decide", session, decision(token))).headers.get("location") ?? "";
    const shown = async (location: string) => await (await edge.call(location, { headers: { cookie: session } })).text();
    expect(await shown(own)).toContain("Approved: tool “delete_repo” of github.");
    // Sealed facts changed, moved to another page, or something appended (a redirect's `error=…`): nothing.
    const sealed = new URL(own, PUBLIC_URL).search;
    for (const location of [tamperedNotice(own), `/ops/connections${sealed}`, `${own}&error=access_denied`])
      expect(await shown(location), location).not.toContain('role="status"');
    // Another session's page cannot show it either.
    const other = groupsEdge(ADMIN);
    const otherSession = await opsSession(other);
    expect(await (await other.call(own, { headers: { cookie: otherSession } })).text()).not.toContain('role="status"');
  });

  it("refuses to register a client whose redirect URI leads into the edge's own /ops", async () => {
    const edge = groupsEdge(ADMIN);
    const register = (redirectUri: string) =>
      edge.call("/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_name: "Notice", redirect_uris: [redirectUri], token_endpoint_auth_method: "none" }),
      });
    // The consent page's Deny would send an administrator there, a navigation the browser calls same-origin.
    for (const uri of [`${PUBLIC_URL}/ops/pins?decided=approve&what=everything`, `${PUBLIC_URL}/%6Fps/connections`]) {
      const refused = await register(uri);
      expect(refused.status, uri).toBe(400);
      expect(await refused.json(), uri).toMatchObject({
        error: "invalid_client_metadata",
        error_description: `redirect_uris: ${uri} leads into this proxy's ops dashboard; a client's redirect URI must be the client's own`,
      });
    }
    // Another origin's /ops, and the edge's origin elsewhere (a native app's loopback URI may be `npm start`'s address).
    for (const uri of ["http://127.0.0.1:33418/ops/pins", `${PUBLIC_URL}/callback`])
      expect((await register(uri)).status, uri).toBe(201);
  });

  it("shows an upstream's name with its unseen characters escaped, above the Approve button and in the notice after it", async () => {
    // A right-to-left override shows the rest of the name reversed: the heading would read "read_delete_files".
    const name = "read_\u202Eselif_eteled";
    const waiting = [
      {
        server: "github",
        kind: "tool" as const,
        name,
        change: "new" as const,
        fingerprint: FINGERPRINT,
        approvedFingerprint: null,
        firstSeen: "2026-12-01T00:00:00.000Z",
        rows: [],
      },
    ];
    const user = { sub: "s", email: "dev@example.com", groups: [] } as unknown as Parameters<typeof pinsPage>[0]["user"];
    const html = await pinsPage({ company: "Example", user, waiting, csrf: "t" }).text();
    expect(html).toContain("Tool “read_\\u{202E}selif_eteled” of github");
    const edge = groupsEdge(ADMIN);
    const session = await opsSession(edge);
    const token = await tokenOf(edge, session);
    const body = decision(token);
    body.set("name", name);
    const location = (await post(edge, "/ops/pins/decide", session, body)).headers.get("location") ?? "";
    const page = await (await edge.call(location, { headers: { cookie: session } })).text();
    expect(page).toContain("Approved: tool “read_\\u{202E}selif_eteled” of github.");
    expect(page).not.toContain("\u202E");
  });

  it("shows what a newer origin waits on under a kind this edge does not know, escaped and without a decision form", async () => {
    // The AWS tier is deployed first: an origin of a later release may list a kind (and a change, a diff mark) this
    // edge's contract does not name. The list must still be read: the known changes keep their Approve/Reject.
    const answer = {
      waiting: [
        { server: "docs", kind: "tool", name: "search", change: "changed", approvedFingerprint: "b".repeat(64) },
        { server: "docs", kind: "widget\u202E<b>", name: "w://one", change: "renamed", approvedFingerprint: null },
      ].map((entry) => ({
        ...entry,
        fingerprint: FINGERPRINT,
        firstSeen: "2026-12-01T00:00:00.000Z",
        rows: [{ left: "a", mark: "~", right: "b" }],
      })),
    };
    const { waiting } = WaitingDefinitions.parse(answer);
    expect(waiting.map((entry) => entry.kind)).toEqual(["tool", "widget\u202E<b>"]);
    expect(waiting[1]?.rows[0]?.mark).toBe("|");
    const user = { sub: "s", email: "dev@example.com", groups: [] } as unknown as Parameters<typeof pinsPage>[0]["user"];
    const html = await pinsPage({ company: "Example", user, waiting, csrf: "t" }).text();
    expect(html).toContain("Tool “search” of docs");
    expect(html).toContain("Kind “widget\\u{202E}&#60;b&#62;” “w://one” of docs");
    expect(html).toContain("renamed (as the origin says)");
    expect(html).not.toContain("\u202E");
    expect(html).not.toContain("<b>");
    expect(html.match(/<form method="post" action="\/ops\/pins\/decide"/g)).toHaveLength(1);
    expect(html).toContain("does not know this kind");
  });

  it("refuses a signed-in user without mcp:admin on every page and form, and asks the origin nothing", async () => {
    const edge = groupsEdge(NOT_ADMIN);
    const session = await opsSession(edge);
    expect((await edge.call("/ops/pins", { headers: { cookie: session } })).status).toBe(403);
    expect((await edge.call("/ops/policy", { headers: { cookie: session } })).status).toBe(403);
    expect((await post(edge, "/ops/pins/decide", session, decision("anything"))).status).toBe(403);
    expect((await post(edge, "/ops/policy", session, new URLSearchParams({ candidate: "{}", days: "7" }))).status).toBe(403);
    expect((await originSaw(edge)).filter((seen) => seen.path.startsWith("/ops/"))).toEqual([]);
  });

  it("sends a signed-out browser to sign in, not to the origin", async () => {
    const edge = groupsEdge(ADMIN);
    const answer = await post(edge, "/ops/pins/decide", "", decision("anything"));
    expect(answer.status).toBe(302);
    expect(answer.headers.get("location")).toMatch(/\/authorize\?/);
    expect(await originSaw(edge)).toEqual([]);
  });
});
