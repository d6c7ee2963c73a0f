import { describe, expect, it } from "vitest";
import { callEdge, PUBLIC_URL } from "./edge-env.ts";

// The edge's half of upstream OAuth that needs no origin: the origin's Client ID Metadata Document, and where an
// upstream's authorization server may send the browser back (one path per server: a mix-up defence).

describe("upstream OAuth at the edge", () => {
  it("serves one Client ID Metadata Document per server, naming only that server's redirect URI", async () => {
    const response = await callEdge("/upstream-oauth/client-metadata/everything.json");
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as { client_id: string; redirect_uris: string[] };
    expect(metadata.client_id).toBe(`${PUBLIC_URL}/upstream-oauth/client-metadata/everything.json`);
    expect(metadata.redirect_uris).toEqual([`${PUBLIC_URL}/upstream-oauth/callback/everything`]);
    expect((await callEdge("/upstream-oauth/client-metadata/nowhere.json")).status).toBe(404);
  });

  it("still serves the document of releases before 2026-12-01, naming only the old callback, for renewals of their connections", async () => {
    // A connection keeps its client for renewals: its client id is this URL, which a CIMD authorization server fetches again.
    const response = await callEdge("/upstream-oauth/client-metadata.json");
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as { client_id: string; redirect_uris: string[]; grant_types: string[] };
    expect(metadata.client_id).toBe(`${PUBLIC_URL}/upstream-oauth/client-metadata.json`);
    expect(metadata.redirect_uris).toEqual([`${PUBLIC_URL}/upstream-oauth/callback`]);
    expect(metadata.grant_types).toContain("refresh_token");
  });

  it("takes a browser's return only at a server's own callback path, and signs the browser in first", async () => {
    // The old shared path completes nothing (a code there could be any server's): it says what to do, and sends no one on.
    const old = await callEdge("/upstream-oauth/callback?state=s&code=c", { redirect: "manual" });
    expect(old.status).toBe(410);
    expect(old.headers.get("location")).toBeNull();
    expect(old.headers.get("set-cookie")).toBeNull();
    expect(await old.text()).toContain("call the tool again");
    const back = await callEdge("/upstream-oauth/callback/everything?state=s&code=c", { redirect: "manual" });
    expect(back.status).toBe(302);
    expect(back.headers.get("location")).toMatch(new RegExp(`^${PUBLIC_URL}/authorize\\?`));
  });
});
