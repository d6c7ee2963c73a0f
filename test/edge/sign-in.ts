import { expect } from "vitest";
import { CookieJar, followRedirects } from "../../local/idp/headless-sign-in.ts";
import { callEdge, PUBLIC_URL } from "./edge-env.ts";
import { pkcePair } from "./pkce.ts";

// The steps of an MCP client's sign-in at the edge, as the authorization tests take them one by one.

export const CLIENT_REDIRECT = "http://127.0.0.1:33418/callback";
export const EDGE_CALLBACK = `${PUBLIC_URL}/callback`;

/** A dynamic registration, public (`none`) unless told otherwise: the registered client as the edge answers it. */
export async function register(
  name = "Test client",
  tokenEndpointAuthMethod = "none",
): Promise<{ client_id: string; client_secret?: string }> {
  const response = await callEdge("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: [CLIENT_REDIRECT],
      token_endpoint_auth_method: tokenEndpointAuthMethod,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { client_id: string; client_secret?: string };
}

export const registerClient = async (name = "Test client"): Promise<string> => (await register(name)).client_id;

export function authorizeUrl(clientId: string, challenge: string, overrides: Record<string, string> = {}): string {
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
export async function openConsent(clientId: string, challenge: string, resource = `${PUBLIC_URL}/mcp`) {
  const page = await callEdge(authorizeUrl(clientId, challenge, { resource }));
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

/** Posts the consent form's decision (`fields`: more of the form's fields, as the page carries them). */
export const decide = (handle: string, decision: string, cookie?: string, fields: Record<string, string> = {}) =>
  callEdge("/authorize", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams({ handle, decision, ...fields }),
  });

/** The cookies a browser holds after these responses. */
export const cookiesOf = (...responses: Response[]) =>
  responses.flatMap((response) => response.headers.getSetCookie().map((line) => line.split(";")[0])).join("; ");

/** The IdP's part, as a browser does it: from its authorization URL back to the edge's callback, which is returned unvisited. */
export async function signInAtIdp(idpUrl: string): Promise<URL> {
  const { finalUrl } = await followRedirects(idpUrl, {
    jar: new CookieJar(),
    stopAt: (url) => url.href.startsWith(EDGE_CALLBACK),
  });
  return finalUrl;
}

/** The token request that redeems an authorization code (RFC 6749 §4.1.3), with its PKCE verifier and resource. */
export const codeExchange = (clientId: string, code: string, verifier: string, resource = `${PUBLIC_URL}/mcp`) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({
    grant_type: "authorization_code",
    code,
    redirect_uri: CLIENT_REDIRECT,
    client_id: clientId,
    code_verifier: verifier,
    resource,
  }),
});

export const exchangeCode = (clientId: string, code: string, verifier: string, resource?: string) =>
  callEdge("/oauth/token", codeExchange(clientId, code, verifier, resource));

/** Consent, IdP sign-in and callback for a registered client: the edge's authorization code. */
export async function authorizationCode(clientId: string, challenge: string, resource = `${PUBLIC_URL}/mcp`): Promise<string> {
  const { handle, cookie } = await openConsent(clientId, challenge, resource);
  const approved = await decide(handle, "approve", cookie);
  const finalUrl = await signInAtIdp(approved.headers.get("location") ?? "");
  const callback = await callEdge(finalUrl.toString(), { headers: { cookie: `${cookie}; ${cookiesOf(approved)}` } });
  return new URL(callback.headers.get("location") ?? "").searchParams.get("code") ?? "";
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
}

/** Tokens for `resource` (the umbrella /mcp by default), through the whole sign-in. */
export async function signedInTokens(clientId: string, resource = `${PUBLIC_URL}/mcp`): Promise<Tokens> {
  const pkce = await pkcePair();
  const response = await exchangeCode(
    clientId,
    await authorizationCode(clientId, pkce.challenge, resource),
    pkce.verifier,
    resource,
  );
  expect(response.status).toBe(200);
  return (await response.json()) as Tokens;
}

/** A refresh-token grant for a public client, with the test's env overrides (limits, grace, cache). */
export const refreshTokens = (clientId: string, refreshToken: string, envOverrides?: Record<string, unknown>) =>
  callEdge(
    "/oauth/token",
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId }),
    },
    envOverrides,
  );

export const tokenRequest = (params: Record<string, string>, envOverrides?: Record<string, unknown>) =>
  callEdge(
    "/oauth/token",
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(params),
    },
    envOverrides,
  );

/** An MCP request with this token; the origin is not running here, so 503 means the edge let it through. */
export const mcpStatus = async (accessToken: string, server = "everything", envOverrides?: Record<string, unknown>) =>
  (
    await callEdge(
      `/mcp/${server}`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${accessToken}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      },
      envOverrides,
    )
  ).status;
