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
    expect((await callEdge("/upstream-oauth/client-metadata.json")).status).toBe(404);
  });

  it("takes a browser's return only at a server's own callback path, and signs the browser in first", async () => {
    expect((await callEdge("/upstream-oauth/callback?state=s&code=c", { redirect: "manual" })).status).toBe(404);
    const back = await callEdge("/upstream-oauth/callback/everything?state=s&code=c", { redirect: "manual" });
    expect(back.status).toBe(302);
    expect(back.headers.get("location")).toMatch(new RegExp(`^${PUBLIC_URL}/authorize\\?`));
  });
});
