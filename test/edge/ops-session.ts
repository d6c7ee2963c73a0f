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
  const signInCookie = heldCookies(start);
  const consent = await edge.call(start.headers.get("location") ?? "");
  expect(consent.status).toBe(200);
  const html = await consent.text();
  expect(html).toContain("Sign in to this MCP proxy&#39;s ops dashboard");
  expect(html).not.toContain("Unverified");
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
  expect(back.startsWith(`${PUBLIC_URL}/ops/callback?`)).toBe(true);
  const finish = await edge.call(back, { headers: { cookie: signInCookie } });
  return { session: heldCookies(finish), finish };
}

/** A dashboard redirect whose sealed notice has one character changed (the first of its IV). */
export const tamperedNotice = (location: string) =>
  location.replace(/notice=(.)/, (_, first: string) => `notice=${first === "A" ? "B" : "A"}`);
