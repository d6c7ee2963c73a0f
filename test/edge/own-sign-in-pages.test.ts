import { describe, expect, it } from "vitest";
import { OPS_CLIENT } from "../../worker/ops/sign-in/ops-client.ts";
import { CONSENT_CLIENT } from "../../worker/upstream-auth/consent-client.ts";
import { callEdge, testEnv } from "./edge-env.ts";

// The edge's own browser sign-ins (the dashboard's, the end of an upstream connection) get a page of their own before
// the identity provider, not the page that asks whether an MCP app may act for the user (s24 hunt pages F3).

/** The page the browser is shown after following `path`'s redirect to the edge's /authorize. */
async function pageBehind(path: string): Promise<string> {
  const start = await callEdge(path, { redirect: "manual" });
  expect(start.status).toBe(302);
  const page = await callEdge(start.headers.get("location") ?? "");
  expect(page.status).toBe(200);
  return (await page.text()).replace(/<[^>]+>/g, "").replaceAll("&#39;", "'");
}

const APP_CONSENT_WORDS = ["Unverified", "It will be able to", "Access goes to", "MCP servers as you", "Allow", "Deny"];

describe("the edge's own sign-in pages", () => {
  it("says the dashboard's sign-in is the dashboard's, with no app to vouch for and no scopes", async () => {
    const text = await pageBehind("/ops");
    expect(text).toContain("Sign in to this MCP proxy's ops dashboard");
    expect(text).toContain("Let me choose the account");
    expect(text).toContain("Continue");
    for (const words of APP_CONSENT_WORDS) expect(text).not.toContain(words);
  });

  it("reads each own sign-in's client id from KV once at /authorize, for the resource rule and the page alike", async () => {
    const start = await callEdge("/ops", { redirect: "manual" });
    const kv = testEnv().OAUTH_KV;
    const reads: string[] = [];
    const counting = new Proxy(kv, {
      get(target, name) {
        if (name === "get")
          return (key: string, ...rest: unknown[]) => {
            reads.push(key);
            return (target.get as (...args: unknown[]) => unknown)(key, ...rest);
          };
        const value = Reflect.get(target, name);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const page = await callEdge(start.headers.get("location") ?? "", {}, { OAUTH_KV: counting });
    expect(await page.text()).toContain("ops dashboard");
    for (const client of [OPS_CLIENT, CONSENT_CLIENT])
      expect(reads.filter((key) => key.startsWith(`${client.kvPrefix}:`))).toHaveLength(1);
  });

  it("offers the account chooser: ticked for 'sign in with another account', which the signed-out page links to (s24 hunt pages F2)", async () => {
    const ticked = /name="choose_account" value="1" checked/;
    const start = async (path: string) => {
      const redirect = await callEdge(path, { redirect: "manual" });
      return (await callEdge(redirect.headers.get("location") ?? "")).text();
    };
    expect(await start("/ops/sign-in")).not.toMatch(ticked);
    expect(await start("/ops/sign-in?account=choose")).toMatch(ticked);
    expect(await (await callEdge("/ops/signed-out")).text()).toContain('href="/ops/sign-in?account=choose"');
  });

  it("says the end of an upstream connection confirms who connects, with no app to vouch for and no scopes", async () => {
    const text = await pageBehind("/upstream-oauth/callback/everything?state=s&code=c");
    expect(text).toContain("Confirm it is you, to finish connecting your account at a server");
    for (const words of APP_CONSENT_WORDS) expect(text).not.toContain(words);
  });

  it("refuses to register an app under the name of one of these sign-ins, in any case, spacing, punctuation, accents or width", async () => {
    for (const name of [
      "Ops dashboard of this MCP proxy",
      " ops DASHBOARD of this mcp proxy ",
      "Ops  dashboard of this MCP proxy.",
      "Öps dashboard of this ＭＣＰ proxy",
      "Connect your account at a server - this MCP proxy",
      "Connect your account at a server (this MCP proxy)",
    ]) {
      const response = await callEdge("/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          client_name: name,
          redirect_uris: ["http://127.0.0.1:33418/callback"],
          token_endpoint_auth_method: "none",
        }),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        error_description: "client_name is the name of one of this proxy's own sign-ins",
      });
    }
  });
});
