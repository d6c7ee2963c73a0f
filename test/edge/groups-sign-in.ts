import { expect, inject } from "vitest";
import { callEdge } from "./edge-env.ts";
import { pkcePair } from "./pkce.ts";
import { authorizeUrl, CLIENT_REDIRECT, codeExchange, cookiesOf, signInAtIdp } from "./sign-in.ts";

// The group tests' sign-in: the authorization steps of sign-in.ts, each made with the test's own edge variables
// (groups source, admin groups, an origin of its own).

export interface GroupsEdge {
  /** This test's origin (its own namespace of the group tests' origin). */
  origin: string;
  env: Record<string, string>;
  call(path: string, init?: RequestInit): Promise<Response>;
}

/** An edge whose origin is a namespace of its own at the group tests' origin, with these variables. */
export function groupsEdge(variables: Record<string, string>): GroupsEdge {
  const origin = `${inject("groupsOriginUrl")}/t-${crypto.randomUUID().slice(0, 8)}`;
  const env = { ORIGIN_URL: origin, IDP_SCOPES: "openid,email,profile,groups", ...variables };
  return { origin, env, call: (path, init) => callEdge(path, init, env) };
}

export const setOriginGroups = (edge: GroupsEdge, email: string, groups: string[]) =>
  fetch(`${edge.origin}/_control/groups`, { method: "POST", body: JSON.stringify({ email, groups }) });
/** Makes the origin's group look-up fail: at Google (`true`), or at the origin's own database. */
export const setOriginDown = (edge: GroupsEdge, down: boolean | "database") =>
  fetch(`${edge.origin}/_control/outage`, { method: "POST", body: JSON.stringify({ down }) });
/** The assertion claims (and cookies) of every request the origin received from this edge, in order. */
export const originSaw = async (edge: GroupsEdge) =>
  (await (await fetch(`${edge.origin}/_control/seen`)).json()) as {
    path: string;
    claims: Record<string, unknown>;
    cookie?: string;
  }[];

/** A third-party client, registered at this edge as any app can (DCR): its client id. */
export async function registerThrough(edge: GroupsEdge, clientName = "Groups test client"): Promise<string> {
  const registered = await edge.call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: clientName,
      redirect_uris: [CLIENT_REDIRECT],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    }),
  });
  return ((await registered.json()) as { client_id: string }).client_id;
}

/** Registration, consent, IdP sign-in and callback: the callback's answer, and what the token request needs. */
export async function signInThrough(edge: GroupsEdge, scope = "mcp") {
  const clientId = await registerThrough(edge);
  const pkce = await pkcePair();
  const page = await edge.call(authorizeUrl(clientId, pkce.challenge, { scope }));
  const handle = /name="handle" value="([^"]+)"/.exec(await page.text())?.[1] ?? "";
  const cookie = cookiesOf(page);
  const approved = await edge.call("/authorize", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie },
    body: new URLSearchParams({ handle, decision: "approve" }),
  });
  const finalUrl = await signInAtIdp(approved.headers.get("location") ?? "");
  const callback = await edge.call(finalUrl.toString(), { headers: { cookie: `${cookie}; ${cookiesOf(approved)}` } });
  return { callback, clientId, verifier: pkce.verifier };
}

export interface GrantedTokens {
  access_token: string;
  refresh_token: string;
  scope: string;
}

/** The whole sign-in, through to the token response. */
export async function signedIn(edge: GroupsEdge, scope = "mcp"): Promise<GrantedTokens & { clientId: string }> {
  const { callback, clientId, verifier } = await signInThrough(edge, scope);
  expect(callback.status).toBe(302);
  const code = new URL(callback.headers.get("location") ?? "").searchParams.get("code") ?? "";
  const response = await edge.call("/oauth/token", codeExchange(clientId, code, verifier));
  expect(response.status).toBe(200);
  return { ...((await response.json()) as GrantedTokens), clientId };
}

export async function refreshed(edge: GroupsEdge, tokens: GrantedTokens & { clientId: string }): Promise<GrantedTokens> {
  const response = await edge.call("/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: tokens.clientId }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as GrantedTokens;
}

/** A plain MCP request through the edge to this test's origin. */
export const mcpRequest = (edge: GroupsEdge, accessToken: string) =>
  edge.call("/mcp/everything", {
    method: "POST",
    headers: {
      authorization: `Bearer ${accessToken}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });

/** The `groups` claim of the last MCP request the origin received. */
export async function groupsOfLastMcpRequest(edge: GroupsEdge): Promise<unknown> {
  const mcp = (await originSaw(edge)).filter((seen) => seen.path.startsWith("/servers/"));
  return mcp.at(-1)?.claims.groups;
}
