import { describe, expect, it } from "vitest";
import { CookieJar, followRedirects } from "../../local/idp/headless-sign-in.ts";
import { callEdge, PUBLIC_URL } from "./edge-env.ts";
import { pkcePair } from "./pkce.ts";

const CLIENT_REDIRECT = "http://127.0.0.1:33418/callback";
const EDGE_CALLBACK = `${PUBLIC_URL}/callback`;

async function registerClient(name = "Test client"): Promise<string> {
  const response = await callEdge("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: [CLIENT_REDIRECT],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

function authorizeUrl(clientId: string, challenge: string, overrides: Record<string, string> = {}): string {
  const params = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: CLIENT_REDIRECT,
    state: "client-state-1",
    code_challenge: challenge,
    code_challenge_method: "S256",
    scope: "mcp",
    resource: `${PUBLIC_URL}/mcp`,
    ...overrides,
  });
  return `/authorize?${params}`;
}

/** The consent page's handle and the binding cookie the browser got with it. */
async function openConsent(clientId: string, challenge: string) {
  const page = await callEdge(authorizeUrl(clientId, challenge));
  expect(page.status).toBe(200);
  const html = await page.text();
  const handle = /name="handle" value="([^"]+)"/.exec(html)?.[1];
  expect(handle).toBeTruthy();
  const cookie = page.headers
    .getSetCookie()
    .map((line) => line.split(";")[0])
    .join("; ");
  return { page, html, handle: handle as string, cookie };
}

const decide = (handle: string, decision: string, cookie?: string) =>
  callEdge("/authorize", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams({ handle, decision }),
  });

/** The cookies a browser holds after these responses. */
const cookiesOf = (...responses: Response[]) =>
  responses.flatMap((response) => response.headers.getSetCookie().map((line) => line.split(";")[0])).join("; ");

/** The IdP's part, as a browser does it: from its authorization URL back to the edge's callback, which is returned unvisited. */
async function signInAtIdp(idpUrl: string): Promise<URL> {
  const { finalUrl } = await followRedirects(idpUrl, {
    jar: new CookieJar(),
    stopAt: (url) => url.href.startsWith(EDGE_CALLBACK),
  });
  return finalUrl;
}

const exchangeCode = (clientId: string, code: string, verifier: string) =>
  callEdge("/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: CLIENT_REDIRECT,
      client_id: clientId,
      code_verifier: verifier,
      resource: `${PUBLIC_URL}/mcp`,
    }),
  });

/** Consent, IdP sign-in and callback for a registered client: the edge's authorization code. */
async function authorizationCode(clientId: string, challenge: string): Promise<string> {
  const { handle, cookie } = await openConsent(clientId, challenge);
  const approved = await decide(handle, "approve", cookie);
  const finalUrl = await signInAtIdp(approved.headers.get("location") ?? "");
  const callback = await callEdge(finalUrl.toString(), { headers: { cookie: `${cookie}; ${cookiesOf(approved)}` } });
  return new URL(callback.headers.get("location") ?? "").searchParams.get("code") ?? "";
}

interface Tokens {
  access_token: string;
  refresh_token: string;
}

async function signedInTokens(clientId: string): Promise<Tokens> {
  const pkce = await pkcePair();
  const response = await exchangeCode(clientId, await authorizationCode(clientId, pkce.challenge), pkce.verifier);
  expect(response.status).toBe(200);
  return (await response.json()) as Tokens;
}

const tokenRequest = (params: Record<string, string>) =>
  callEdge("/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params),
  });

/** An MCP request with this token; the origin is not running here, so 502 means the edge let it through. */
const mcpStatus = async (accessToken: string) =>
  (
    await callEdge("/mcp/everything", {
      method: "POST",
      headers: {
        authorization: `Bearer ${accessToken}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    })
  ).status;

describe("authorization at the edge", () => {
  it("shows a consent page that cannot be framed and escapes what the client chose", async () => {
    const clientId = await registerClient('<script>alert("x")</script>');
    const { page, html } = await openConsent(clientId, (await pkcePair()).challenge);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(html).not.toContain("<script>");
    expect(html).toContain("&#60;script&#62;");
    expect(html).toContain("127.0.0.1"); // where the tokens go
    expect(html).toContain("this computer"); // the loopback warning
  });

  it("refuses a redirect URI the client did not register, on a page of its own (no redirect)", async () => {
    const clientId = await registerClient();
    const response = await callEdge(
      authorizeUrl(clientId, (await pkcePair()).challenge, { redirect_uri: "https://attacker.example/cb" }),
    );
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
  });

  it("refuses the plain PKCE method", async () => {
    const clientId = await registerClient();
    const response = await callEdge(authorizeUrl(clientId, "a".repeat(43), { code_challenge_method: "plain" }));
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get("location") ?? "").searchParams.get("error")).toBe("invalid_request");
  });

  it("refuses a consent form posted without the browser's binding cookie (forged or from another site)", async () => {
    const clientId = await registerClient();
    const { handle } = await openConsent(clientId, (await pkcePair()).challenge);
    const response = await decide(handle, "approve");
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
  });

  it("sends the user back to the client with access_denied and iss when they deny", async () => {
    const clientId = await registerClient();
    const { handle, cookie } = await openConsent(clientId, (await pkcePair()).challenge);
    const response = await decide(handle, "deny", cookie);
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") ?? "");
    expect(`${location.origin}${location.pathname}`).toBe(CLIENT_REDIRECT);
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe("client-state-1");
    expect(location.searchParams.get("iss")).toBe(PUBLIC_URL);
  });

  it("refuses an identity-provider callback whose state it never issued", async () => {
    const response = await callEdge(`${EDGE_CALLBACK}?code=stolen&state=forged-state`);
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
  });

  it("runs the whole flow: consent, sign-in at the IdP, edge tokens; the IdP's state works once", async () => {
    const clientId = await registerClient();
    const pkce = await pkcePair();
    const { handle, cookie } = await openConsent(clientId, pkce.challenge);

    const approved = await decide(handle, "approve", cookie);
    expect(approved.status).toBe(302);
    const idpUrl = new URL(approved.headers.get("location") ?? "");
    expect(idpUrl.searchParams.get("client_id")).toBe("edge-test-client");
    expect(idpUrl.searchParams.get("redirect_uri")).toBe(EDGE_CALLBACK);
    expect(idpUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(idpUrl.searchParams.get("nonce")).toBeTruthy();
    const upstreamCookie = `${cookie}; ${cookiesOf(approved)}`;

    const finalUrl = await signInAtIdp(idpUrl.toString());
    const callback = await callEdge(finalUrl.toString(), { headers: { cookie: upstreamCookie } });
    expect(callback.status).toBe(302);
    const back = new URL(callback.headers.get("location") ?? "");
    expect(`${back.origin}${back.pathname}`).toBe(CLIENT_REDIRECT);
    expect(back.searchParams.get("state")).toBe("client-state-1");
    expect(back.searchParams.get("iss")).toBe(PUBLIC_URL);

    const replay = await callEdge(finalUrl.toString(), { headers: { cookie: upstreamCookie } });
    expect(replay.status).toBe(400);

    const token = await exchangeCode(clientId, back.searchParams.get("code") ?? "", pkce.verifier);
    expect(token.status).toBe(200);
    const tokens = (await token.json()) as { access_token: string; refresh_token: string; token_type: string };
    expect(tokens.token_type.toLowerCase()).toBe("bearer");
    expect(tokens.refresh_token).toBeTruthy();

    // The token opens /mcp/<server>; the origin is not running in this test, which the client is told plainly.
    const mcp = await callEdge("/mcp/everything", {
      method: "POST",
      headers: {
        authorization: `Bearer ${tokens.access_token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" }),
    });
    expect(mcp.status).toBe(502);
    expect(await mcp.json()).toMatchObject({
      id: 7,
      error: { code: -32000, message: 'the origin could not be reached for server "everything"' },
    });
  });

  it("refuses a code exchanged with the wrong PKCE verifier", async () => {
    const clientId = await registerClient();
    const code = await authorizationCode(clientId, (await pkcePair()).challenge);
    const token = await exchangeCode(clientId, code, (await pkcePair()).verifier);
    expect(token.status).toBe(400);
    expect(await token.json()).toMatchObject({ error: "invalid_grant" });
  });

  it("refuses a user outside the allowed domains after the IdP vouched for them, with a page and no code", async () => {
    const onlyOther = { IDP_ALLOWED_DOMAINS: "other.example" }; // the auto-signed-in dev user is of example.com
    const clientId = await registerClient();
    const page = await callEdge(authorizeUrl(clientId, (await pkcePair()).challenge), undefined, onlyOther);
    const handle = /name="handle" value="([^"]+)"/.exec(await page.text())?.[1] ?? "";
    const approved = await callEdge(
      "/authorize",
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookiesOf(page) },
        body: new URLSearchParams({ handle, decision: "approve" }),
      },
      onlyOther,
    );
    const finalUrl = await signInAtIdp(approved.headers.get("location") ?? "");
    const callback = await callEdge(
      finalUrl.toString(),
      { headers: { cookie: `${cookiesOf(page)}; ${cookiesOf(approved)}` } },
      onlyOther,
    );
    expect(callback.status).toBe(403);
    expect(callback.headers.get("location")).toBeNull();
    expect(await callback.text()).toContain("accounts of example.com may not use this proxy");
  });

  it("rotates refresh tokens, and refuses a refresh token presented by another client", async () => {
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);

    const stolen = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: first.refresh_token,
      client_id: await registerClient(),
    });
    expect(stolen.status).toBe(400);
    expect(await stolen.json()).toMatchObject({ error: "invalid_grant" });

    const refreshed = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: first.refresh_token,
      client_id: clientId,
    });
    expect(refreshed.status).toBe(200);
    const second = (await refreshed.json()) as Tokens;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(await mcpStatus(second.access_token)).toBe(502);
  });

  it("lets nothing through with a revoked access token", async () => {
    const clientId = await registerClient();
    const tokens = await signedInTokens(clientId);
    expect(await mcpStatus(tokens.access_token)).toBe(502);
    const revoked = await tokenRequest({ token: tokens.access_token, client_id: clientId });
    expect(revoked.status).toBe(200);
    expect(await mcpStatus(tokens.access_token)).toBe(401);
  });
});
