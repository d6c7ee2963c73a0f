import { describe, expect, it } from "vitest";
import { type GroupsEdge, groupsEdge, originSaw } from "./groups-sign-in.ts";
import { heldCookies, ownSignInBackOf } from "./ops-session.ts";

// The sign-in at the edge that ends an upstream's consent (worker/upstream-auth): the browser comes back from the
// upstream to /upstream-oauth/callback/<server>, signs in at the edge as its own client, and its return is relayed to
// the origin from /upstream-oauth/signed-in. The test origin answers what the test sets.

const CONNECTED = { ok: true, server: "everything", email: "dev@example.com" };

const answerAs = (edge: GroupsEdge, outcome: unknown) =>
  fetch(`${edge.origin}/_control/answer`, { method: "POST", body: JSON.stringify(outcome) });

/** The browser's return from the upstream's consent: a redirect to the edge's sign-in, with its cookie. */
const returnFromUpstream = (edge: GroupsEdge, query: string, cookie = "") =>
  edge.call(`/upstream-oauth/callback/everything?${query}`, { headers: { cookie } });

const completions = async (edge: GroupsEdge) =>
  (await originSaw(edge)).filter((seen) => seen.path === "/upstream-oauth/complete").length;

describe("the sign-in that ends an upstream's consent", () => {
  it("finishes two connection links followed at once in one browser, each with its own cookie (s24 hunt pages F5)", async () => {
    const edge = groupsEdge({});
    await answerAs(edge, CONNECTED);
    const first = await returnFromUpstream(edge, "state=u1&code=c1");
    const second = await returnFromUpstream(edge, "state=u2&code=c2", heldCookies(first));
    const jar = heldCookies(first, second);
    expect(jar.split("; ")).toHaveLength(2);
    expect(jar).toMatch(/^mcp-upstream-consent-[0-9a-f]{16}=[\w-]+; mcp-upstream-consent-[0-9a-f]{16}=[\w-]+$/);
    for (const start of [first, second]) {
      const back = await ownSignInBackOf(edge, start, "/upstream-oauth/signed-in");
      const end = await edge.call(back, { headers: { cookie: jar } });
      expect(end.status).toBe(200);
      expect(await end.text()).toContain("is connected for dev@example.com");
    }
    expect(await completions(edge)).toBe(2);
  });

  it("refuses a sign-in whose state has no cookie in this browser, though it holds another's: nothing is relayed", async () => {
    const edge = groupsEdge({});
    await answerAs(edge, CONNECTED);
    const mine = await returnFromUpstream(edge, "state=u1&code=c1");
    const theirs = await returnFromUpstream(edge, "state=u2&code=c2");
    const back = await ownSignInBackOf(edge, theirs, "/upstream-oauth/signed-in");
    const end = await edge.call(back, { headers: { cookie: heldCookies(mine) } });
    expect(end.status).toBe(400);
    expect(await end.text()).toContain("This sign-in was not started in this browser");
    expect(await completions(edge)).toBe(0);
  });
});
