import { afterEach, describe, expect, it, vi } from "vitest";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL } from "./edge-env.ts";
import { type GroupsEdge, groupsEdge, originSaw } from "./groups-sign-in.ts";
import { heldCookies, ownSignInBackOf, tamperedNotice } from "./ops-session.ts";

// The sign-in at the edge that ends an upstream's consent (worker/upstream-auth): the browser comes back from the
// upstream to /upstream-oauth/callback/<server>, signs in at the edge as its own client, and its return is relayed to
// the origin from /upstream-oauth/signed-in. The test origin answers what the test sets.

const CONNECTED = { ok: true, server: "everything", email: "dev@example.com" };

const answerAs = (edge: GroupsEdge, outcome: unknown) =>
  fetch(`${edge.origin}/_control/answer`, { method: "POST", body: JSON.stringify(outcome) });

/** The browser's return from the upstream's consent: a redirect to the edge's sign-in, with its cookie. */
const returnFromUpstream = (edge: GroupsEdge, query: string, cookie = "") =>
  edge.call(`/upstream-oauth/callback/everything?${query}`, { headers: { cookie } });

/** From a return's start through the edge's sign-in to the end of /upstream-oauth/signed-in, in a browser of `jar`. */
async function signInAfter(edge: GroupsEdge, start: Response, jar = heldCookies(start)): Promise<Response> {
  const back = await ownSignInBackOf(edge, start, "/upstream-oauth/signed-in");
  return edge.call(back, { headers: { cookie: jar } });
}

/** The result page an end redirects to (303), as the browser shows it. */
async function resultOf(edge: GroupsEdge, end: Response): Promise<{ status: number; text: string; location: string }> {
  expect(end.status).toBe(303);
  const location = end.headers.get("location") ?? "";
  expect(new URL(location, PUBLIC_URL).pathname).toBe("/upstream-oauth/result");
  const page = await edge.call(location);
  return { status: page.status, text: await page.text(), location };
}

afterEach(() => {
  vi.useRealTimers();
});

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
      const shown = await resultOf(edge, await signInAfter(edge, start, jar));
      expect(shown).toMatchObject({ status: 200, text: expect.stringContaining("is connected for dev@example.com") });
    }
    expect(await completions(edge)).toBe(2);
  });

  it("refuses a sign-in whose state has no cookie in this browser, though it holds another's: nothing is relayed", async () => {
    const edge = groupsEdge({});
    await answerAs(edge, CONNECTED);
    const mine = await returnFromUpstream(edge, "state=u1&code=c1");
    const theirs = await returnFromUpstream(edge, "state=u2&code=c2");
    const end = await signInAfter(edge, theirs, heldCookies(mine));
    expect(end.status).toBe(400);
    expect(await end.text()).toContain("This sign-in was not started in this browser");
    expect(await completions(edge)).toBe(0);
  });

  it("shows the outcome again on a reload of its end: Post/Redirect/Get to a sealed result (s24 hunt pages F4)", async () => {
    const edge = groupsEdge({});
    await answerAs(edge, CONNECTED);
    const start = await returnFromUpstream(edge, "state=u1&code=c1");
    const back = await ownSignInBackOf(edge, start, "/upstream-oauth/signed-in");
    const end = await edge.call(back, { headers: { cookie: heldCookies(start) } });
    expect(end.headers.getSetCookie()).toEqual([expect.stringMatching(/^mcp-upstream-consent-[0-9a-f]{16}=; .*Max-Age=0/)]);
    const shown = await resultOf(edge, end);
    expect(shown.status).toBe(200);
    expect(shown.text).toContain("<h1>Connected</h1>");
    expect(shown.text).toContain("is connected for dev@example.com");
    // The address does not show whom it names; a reload shows the same, and connects nothing again.
    expect(shown.location).not.toContain("dev");
    const reloaded = await edge.call(shown.location);
    expect(reloaded.status).toBe(200);
    expect(await reloaded.text()).toContain("is connected for dev@example.com");
    expect(await completions(edge)).toBe(1);
    // The sign-in's own address, without its cookie (gone with the first answer), says what is true either way.
    const again = await edge.call(back);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain("If you just connected your account, you are done");
    expect(await completions(edge)).toBe(1);
  });

  it("audits a replayed sign-in code as auth.denied at /upstream-oauth/signed-in; a sign-in as none (s25 review F9)", async () => {
    const audit = capturedAudit();
    const plain = groupsEdge({});
    const edge = { ...plain, call: (path: string, init?: RequestInit) => callEdge(path, init, { ...plain.env, ...audit.env }) };
    await answerAs(edge, CONNECTED);
    const start = await returnFromUpstream(edge, "state=u1&code=c1");
    const back = await ownSignInBackOf(edge, start, "/upstream-oauth/signed-in");
    const browser = { headers: { cookie: heldCookies(start) } };
    expect((await resultOf(edge, await edge.call(back, browser))).status).toBe(200);
    const denied = () => audit.events.filter((event) => event.kind === "auth.denied");
    await expect.poll(() => audit.events.some((event) => event.kind === "auth.sign_in")).toBe(true);
    expect(denied()).toEqual([]);
    // The same return again, with a copy of its cookie: the code's grant was revoked once the user was read.
    const replayed = await edge.call(back, browser);
    expect([...replayed.headers.keys()].filter((name) => name.startsWith("mcp-edge"))).toEqual([]);
    expect(await resultOf(edge, replayed)).toMatchObject({ status: 502, text: expect.stringContaining("its code was refused") });
    await expect.poll(() => denied().length).toBe(1);
    expect(denied()[0]).toMatchObject({
      outcome: "denied",
      method: "/upstream-oauth/signed-in (authorization-code-grant/grant_not_found)",
      httpStatus: 400,
      clientId: new URL(start.headers.get("location") ?? "").searchParams.get("client_id"),
    });
    expect(await completions(edge)).toBe(1);
  });

  it("shows no outcome for a result address it did not seal, or a day old: only what is true either way", async () => {
    const edge = groupsEdge({});
    await answerAs(edge, CONNECTED);
    const start = await returnFromUpstream(edge, "state=u1&code=c1");
    const { location } = await resultOf(edge, await signInAfter(edge, start));
    for (const address of [tamperedNotice(location), "/upstream-oauth/result", `${location}&x=1`]) {
      const page = await (await edge.call(address)).text();
      expect(page, address).not.toContain("Connected");
      expect(page, address).toContain("If you just connected your account, you are done");
    }
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 25 * 3600_000 });
    expect(await (await edge.call(location)).text()).toContain("This page no longer knows how your connection ended");
  });

  it("ends a connection the origin refuses on its result page too, with the origin's words", async () => {
    const edge = groupsEdge({});
    await answerAs(edge, { ok: false, message: "this link was used already or expired" });
    const start = await returnFromUpstream(edge, "state=u1&code=c1");
    const shown = await resultOf(edge, await signInAfter(edge, start));
    expect(shown).toMatchObject({ status: 400, text: expect.stringContaining("this link was used already or expired") });
    expect(shown.text).toContain("<h1>Not connected</h1>");
  });

  it("says an origin it cannot reach at the end so, not 'Internal error' (s24 hunt pages F6)", async () => {
    const edge = groupsEdge({ ORIGIN_URL: "http://127.0.0.1:9" });
    const start = await returnFromUpstream(edge, "state=u1&code=c1");
    const shown = await resultOf(edge, await signInAfter(edge, start));
    expect(shown.status).toBe(502);
    expect(shown.text).toContain("could not reach its server to finish connecting &#34;everything&#34;");
  });

  it.each([
    ["access_denied", 403, "You did not allow it at the server"],
    ["server_error", 400, "did not give its authorization (server_error)"],
    ["<b>x</b>", 400, "did not give its authorization (an error)"],
  ])(
    "answers a return carrying error=%s at once: no sign-in at the edge, nothing relayed (s24 hunt pages F3)",
    async (error, status, says) => {
      const edge = groupsEdge({});
      const back = await returnFromUpstream(
        edge,
        `${new URLSearchParams({ state: "u1", error, error_description: "<i>words</i>" })}`,
      );
      expect(back.status).toBe(status);
      expect(back.headers.get("location")).toBeNull();
      expect(back.headers.getSetCookie()).toEqual([]);
      const text = await back.text();
      expect(text).toContain(says);
      expect(text).toContain("nothing was connected");
      expect(text).not.toContain("words");
      expect(await completions(edge)).toBe(0);
    },
  );
});
