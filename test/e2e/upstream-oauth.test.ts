import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CookieJar, followRedirects } from "../../local/idp/headless-sign-in.ts";
import { type OAuthUpstream, startOAuthUpstream } from "../fixtures/oauth-upstream/start.ts";
import { startTestSystem } from "./local-system.ts";
import { CLIENT_REDIRECT_URI, InMemoryOAuthProvider } from "./oauth-client.ts";

// An OAuth-protected upstream (its own authorization server on loopback) through the whole local system, with real SDK
// clients of both eras: the first call asks for the user's consent as a URL elicitation, the user's browser goes
// through the upstream's consent, back to the edge, signs in there as the same user, and the call then runs with that
// user's own upstream token. The IdP shows its account picker, so two people can sign in.
const DEV = "dev@example.com";
const OPS = "ops@example.com";
const CONSENT_NEEDED = -32007;
let system: Awaited<ReturnType<typeof startTestSystem>>;
let upstream: OAuthUpstream;
const browsers = new Map<string, CookieJar>();
const mcpUrl = () => new URL(`${system.edgeUrl}/mcp/files`);
const atEdge = (path: string) => (url: URL) => url.origin === new URL(system.edgeUrl).origin && url.pathname === path;
function browserOf(email: string): CookieJar {
  const jar = browsers.get(email) ?? new CookieJar();
  browsers.set(email, jar);
  return jar;
}

beforeAll(async () => {
  upstream = await startOAuthUpstream();
  system = await startTestSystem({
    autoSignIn: false,
    originFile: {
      path: "upstream OAuth test",
      content: { servers: { files: { transport: "http", url: upstream.url, identity: "none", oauth: { registration: "dcr" } } } },
    },
  });
});
afterAll(async () => {
  await system?.close();
  await upstream?.close();
});

/** Follows `url` in the person's browser through the edge's consent page and the IdP's picker (choosing them), to `until`. */
async function browseAs(email: string, url: string, until: (url: URL) => boolean): Promise<URL> {
  const jar = browserOf(email);
  const atPicker = (next: URL) => next.origin === new URL(system.idpIssuer).origin && next.pathname.startsWith("/interaction/");
  let from = url;
  for (let picked = 0; picked < 3; picked++) {
    const { finalUrl } = await followRedirects(from, {
      jar,
      approveForms: true,
      stopAt: (next) => atPicker(next) || until(next),
    });
    if (!atPicker(finalUrl)) return finalUrl;
    from = await pickAccount(email, jar, finalUrl);
  }
  throw new Error("the identity provider asked for an account more than three times");
}

/** The IdP's interaction: finished at once when this browser is signed in there, else the picker's form for `email`. */
async function pickAccount(email: string, jar: CookieJar, interaction: URL): Promise<string> {
  const send = async (init: RequestInit, to: URL) => {
    const headers = new Headers(init.headers);
    headers.set("cookie", jar.cookieHeader(to) ?? "");
    const response = await fetch(to, { ...init, headers, redirect: "manual" });
    jar.storeFrom(to, response.headers);
    await response.body?.cancel();
    return response.headers.get("location");
  };
  const finished = await send({}, interaction);
  if (finished) return new URL(finished, interaction).href;
  const login = new URL(`${interaction.href}/login`);
  const chosen = await send(
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `account=${encodeURIComponent(email)}`,
    },
    login,
  );
  if (!chosen) throw new Error(`the identity provider did not sign in ${email}`);
  return new URL(chosen, login).href;
}

/** An MCP client's OAuth provider, signed in at the edge as `email`. */
async function signedIn(email: string): Promise<InMemoryOAuthProvider> {
  const provider = new InMemoryOAuthProvider();
  await new ClientV2({ name: "sign-in", version: "1" })
    .connect(new TransportV2(mcpUrl(), { authProvider: provider }))
    .catch(() => {});
  const link = provider.authorizationUrl?.href ?? "";
  const back = await browseAs(email, link, (url) => `${url.origin}${url.pathname}` === CLIENT_REDIRECT_URI);
  await new TransportV2(mcpUrl(), { authProvider: provider }).finishAuth(back.searchParams);
  return provider;
}

/** What the person's browser shows at the end of a return to the edge's callback (after signing in there). */
async function returnToEdge(email: string, callback: string): Promise<{ status: number; text: string }> {
  const signedInAt = await browseAs(email, callback, atEdge("/upstream-oauth/signed-in"));
  const page = await fetch(signedInAt, { headers: { cookie: browserOf(email).cookieHeader(signedInAt) ?? "" } });
  return { status: page.status, text: await page.text() };
}

/** Opens a consent link in the person's browser: the upstream's AS consents at once; returns where it sent the browser. */
async function consentAt(email: string, link: string): Promise<string> {
  const { finalUrl } = await followRedirects(link, { jar: browserOf(email), stopAt: atEdge("/upstream-oauth/callback/files") });
  return finalUrl.href;
}

const textOf = (result: unknown) => (result as { content: { text: string }[] }).content[0]?.text;
const callbacks: string[] = [];
let firstLink = "";
let devAccount = "";
let opsAccount = "";

describe("an OAuth-protected upstream through the edge", () => {
  it("gives a client of either era without URL elicitation JSON-RPC -32007 and the link, and runs nothing", async () => {
    const provider = await signedIn(DEV);
    const client = new ClientV2(
      { name: "no-url-v2", version: "1" },
      { versionNegotiation: { mode: "auto" }, capabilities: { elicitation: { form: {} } } },
    );
    await client.connect(new TransportV2(mcpUrl(), { authProvider: provider }));
    const refused = await client.callTool({ name: "whoami", arguments: {} }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: CONSENT_NEEDED });
    expect(String((refused as Error).message)).toMatch(
      /server "files" needs you to connect your account first: open http:\/\/127\.0\.0\.1:\d+\/authorize\?/,
    );
    firstLink = (refused as { data?: { url?: string } }).data?.url ?? "";
    expect(new URL(firstLink).searchParams.get("redirect_uri")).toBe(`${system.edgeUrl}/upstream-oauth/callback/files`);
    await client.close();

    const legacy = new ClientV1({ name: "no-url-v1", version: "1" }, { capabilities: { elicitation: {} } });
    await legacy.connect(new TransportV1(mcpUrl(), { authProvider: (await signedIn(OPS)) as never }));
    const refusedLegacy = await legacy.callTool({ name: "whoami", arguments: {} }).catch((error: unknown) => error);
    expect(refusedLegacy).toMatchObject({ code: CONSENT_NEEDED, data: { url: expect.stringContaining("/authorize?") } });
    await legacy.close();
    expect(upstream.authorizationServer.issued.byCode).toBe(0);
  });

  it("asks a 2026-07-28 client with a URL elicitation; the browser consents, signs in at the edge, and the call runs", async () => {
    const provider = await signedIn(DEV);
    const asked: { mode?: string; message?: string }[] = [];
    const client = new ClientV2(
      { name: "url-v2", version: "1" },
      { versionNegotiation: { mode: "auto" }, capabilities: { elicitation: { url: {} } } },
    );
    client.setRequestHandler("elicitation/create", async (request) => {
      const params = request.params as { mode?: string; message?: string; url?: string };
      asked.push(params);
      const callback = await consentAt(DEV, params.url ?? "");
      callbacks.push(callback);
      const page = await returnToEdge(DEV, callback);
      expect(page).toMatchObject({
        status: 200,
        text: expect.stringContaining(`Server &#34;files&#34; is connected for ${DEV}.`),
      });
      return { action: "accept" } as never;
    });
    await client.connect(new TransportV2(mcpUrl(), { authProvider: provider }));
    expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    devAccount = textOf(await client.callTool({ name: "whoami", arguments: {} })) ?? "";
    expect(devAccount).toMatch(/^account-\d+$/);
    expect(asked).toEqual([expect.objectContaining({ mode: "url", message: expect.stringContaining('Server "files"') })]);
    // Consented once: the next call runs without asking.
    expect(textOf(await client.callTool({ name: "whoami", arguments: {} }))).toBe(devAccount);
    expect(asked).toHaveLength(1);
    await client.close();
  });

  it("asks a 2025-11-25 session (SDK v1) with elicitation/create mode url from its session, for its own user", async () => {
    const provider = await signedIn(OPS);
    const client = new ClientV1({ name: "url-v1", version: "1" }, { capabilities: { elicitation: { url: {} } } });
    const asked: { mode?: string; url?: string }[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      const params = request.params as { mode?: string; url?: string };
      asked.push(params);
      const page = await returnToEdge(OPS, await consentAt(OPS, params.url ?? ""));
      expect(page.text).toContain(`Server &#34;files&#34; is connected for ${OPS}.`);
      return { action: "accept" };
    });
    await client.connect(new TransportV1(mcpUrl(), { authProvider: provider as never }));
    expect(client.getServerVersion()?.name).toBe("files");
    opsAccount = textOf(await client.callTool({ name: "whoami", arguments: {} })) ?? "";
    expect(opsAccount).toMatch(/^account-\d+$/);
    expect(opsAccount).not.toBe(devAccount);
    expect(asked).toEqual([expect.objectContaining({ mode: "url", url: expect.stringContaining("/authorize?") })]);
    expect(textOf(await client.callTool({ name: "whoami", arguments: {} }))).toBe(opsAccount);
    expect(asked).toHaveLength(1);
    await client.close();
  });

  it("asks only the user whose upstream token was revoked to consent again; the other goes on", async () => {
    upstream.authorizationServer.revokeAccount(devAccount);
    const asked: string[] = [];
    const client = new ClientV2(
      { name: "again-v2", version: "1" },
      { versionNegotiation: { mode: "auto" }, capabilities: { elicitation: { url: {} } } },
    );
    client.setRequestHandler("elicitation/create", async (request) => {
      const link = (request.params as { url?: string }).url ?? "";
      asked.push(link);
      await returnToEdge(DEV, await consentAt(DEV, link));
      return { action: "accept" } as never;
    });
    await client.connect(new TransportV2(mcpUrl(), { authProvider: await signedIn(DEV) }));
    const again = textOf(await client.callTool({ name: "whoami", arguments: {} }));
    expect(asked).toHaveLength(1);
    expect(again).toMatch(/^account-\d+$/);
    expect(again).not.toBe(devAccount);
    await client.close();
    const other = new ClientV2({ name: "ops-v2", version: "1" }, { versionNegotiation: { mode: "auto" } });
    await other.connect(new TransportV2(mcpUrl(), { authProvider: await signedIn(OPS) }));
    expect(textOf(await other.callTool({ name: "whoami", arguments: {} }))).toBe(opsAccount);
    await other.close();
  });

  it("refuses a link opened by another user's browser: nothing is exchanged or stored", async () => {
    const exchanged = upstream.authorizationServer.issued.byCode;
    // The first link was made for dev@example.com; ops@example.com consents at the upstream and signs in at the edge.
    const page = await returnToEdge(OPS, await consentAt(OPS, firstLink));
    expect(page.status).toBe(400);
    expect(page.text).toContain("this link was made for another user of the gateway, not for you (ops@example.com)");
    expect(upstream.authorizationServer.issued.byCode).toBe(exchanged);
  });

  it("refuses a replayed callback and a forged state, after the browser signed in", async () => {
    const replayed = await returnToEdge(DEV, callbacks[0] ?? "");
    expect(replayed.status).toBe(400);
    expect(replayed.text).toContain("this link was used already or expired");
    const forged = await returnToEdge(DEV, `${system.edgeUrl}/upstream-oauth/callback/files?state=forged&code=forged`);
    expect(forged.status).toBe(400);
    expect(forged.text).toContain("this link was used already or expired");
  });

  it("sends a return to the edge's sign-in first, and refuses a sign-in this browser did not start", async () => {
    const callback = await fetch(`${system.edgeUrl}/upstream-oauth/callback/files?state=s&code=c`, { redirect: "manual" });
    expect(callback.status).toBe(302);
    expect(callback.headers.get("location")).toMatch(new RegExp(`^${system.edgeUrl}/authorize\\?`));
    expect(callback.headers.get("set-cookie")).toMatch(
      /^mcp-upstream-consent-[0-9a-f]{16}=[\w-]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/,
    );
    const stranger = await fetch(`${system.edgeUrl}/upstream-oauth/signed-in?state=s&code=c`);
    expect(stranger.status).toBe(400);
    expect(await stranger.text()).toContain("This sign-in was not started in this browser");
  });
});
