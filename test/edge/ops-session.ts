import { expect } from "vitest";
import { PUBLIC_URL } from "./edge-env.ts";
import type { GroupsEdge } from "./groups-sign-in.ts";
import { cookiesOf, signInAtIdp } from "./sign-in.ts";

// A browser's way into /ops, shared by the dashboard's edge tests.

/** Only cookies that hold something (a cleared cookie has an empty value). */
export const heldCookies = (...responses: Response[]) =>
  cookiesOf(...responses)
    .split("; ")
    .filter((pair) => pair && !pair.endsWith("="))
    .join("; ");

/** From /ops to a session: consent, the IdP, the edge's callback, the dashboard's callback. */
export async function signInToOps(edge: GroupsEdge): Promise<{ session: string; finish: Response }> {
  const start = await edge.call("/ops");
  expect(start.status).toBe(302);
  const finish = await edge.call(await opsCallbackOf(edge, start), { headers: { cookie: heldCookies(start) } });
  return { session: heldCookies(finish), finish };
}

/** The state of the sign-in a dashboard answer started (it sent the browser to /authorize). */
export const stateOf = (start: Response): string => new URL(start.headers.get("location") ?? "").searchParams.get("state") ?? "";

/** From a sign-in's start (a redirect to /authorize) through consent, the IdP and the edge's callback, to /ops/callback. */
export const opsCallbackOf = (edge: GroupsEdge, start: Response): Promise<string> =>
  ownSignInBackOf(edge, start, "/ops/callback");

/**
 * From a sign-in of one of the edge's own browser clients (a redirect to /authorize) through consent, the IdP and the
 * edge's callback, to the client's redirect URI (`path` on the edge), which is returned unvisited.
 */
export async function ownSignInBackOf(edge: GroupsEdge, start: Response, path: string): Promise<string> {
  const consent = await edge.call(start.headers.get("location") ?? "");
  expect(consent.status).toBe(200);
  const html = await consent.text();
  const handle = /name="handle" value="([^"]+)"/.exec(html)?.[1] ?? "";
  const consentCookie = cookiesOf(consent);
  const approved = await edge.call("/authorize", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: consentCookie },
    body: new URLSearchParams({ handle, decision: "approve" }),
  });
  const atEdge = await signInAtIdp(approved.headers.get("location") ?? "");
  const callback = await edge.call(atEdge.toString(), { headers: { cookie: `${consentCookie}; ${cookiesOf(approved)}` } });
  const back = callback.headers.get("location") ?? "";
  expect(back.startsWith(`${PUBLIC_URL}${path}?`)).toBe(true);
  return back;
}

/** A dashboard redirect whose sealed notice has one character changed (the first of its IV). */
export const tamperedNotice = (location: string) =>
  location.replace(/notice=(.)/, (_, first: string) => `notice=${first === "A" ? "B" : "A"}`);
