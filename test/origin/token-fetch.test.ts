import { describe, expect, it } from "vitest";
import { UpstreamConsentRequired } from "../../aws/origin/upstream-auth/consent.ts";
import { upstreamTokenFetch } from "../../aws/origin/upstream-auth/token-fetch.ts";
import type { UpstreamOAuth } from "../../aws/origin/upstream-auth/upstream-oauth.ts";
import { type HttpServer, UpstreamServer } from "../../contract/config/schema.ts";

// The user's own token on each request to an OAuth-protected upstream: a 401 gets one refresh and one retry, then
// the user is asked to consent again.

const spec = UpstreamServer.parse({
  transport: "http",
  url: "https://files.example/mcp",
  identity: "none",
  oauth: { registration: "dcr" },
}) as HttpServer;
const owner = () => ({ sub: "u", email: "u@example.com", server: "files" });

function oauthCounting() {
  const refreshed: string[] = [];
  const oauth = {
    accessToken: async () => "first",
    refresh: async (_owner: unknown, rejected: string) => {
      refreshed.push(rejected);
      return `after-${rejected}`;
    },
    begin: async () => new URL("https://files.example/authorize"),
  } as unknown as UpstreamOAuth;
  return { oauth, refreshed };
}

describe("a request to an OAuth-protected upstream", () => {
  it("refreshes once and asks for consent when the renewed token is refused too (no second refresh)", async () => {
    const { oauth, refreshed } = oauthCounting();
    const sent: (string | null)[] = [];
    const send = (async (_input: RequestInfo | URL, init?: RequestInit) => {
      sent.push(new Headers(init?.headers).get("authorization"));
      return new Response(null, { status: 401 });
    }) as typeof fetch;
    const failure = await upstreamTokenFetch(oauth, owner, spec, send)("https://files.example/mcp").catch((error) => error);
    expect(failure).toBeInstanceOf(UpstreamConsentRequired);
    expect(sent).toEqual(["Bearer first", "Bearer after-first"]);
    expect(refreshed).toEqual(["first"]);
  });

  it("goes on with the renewed token when the upstream takes it", async () => {
    const { oauth, refreshed } = oauthCounting();
    const send = (async (_input: RequestInfo | URL, init?: RequestInit) =>
      new Response(null, {
        status: new Headers(init?.headers).get("authorization") === "Bearer first" ? 401 : 200,
      })) as typeof fetch;
    expect((await upstreamTokenFetch(oauth, owner, spec, send)("https://files.example/mcp")).status).toBe(200);
    expect(refreshed).toEqual(["first"]);
  });
});
