import { describe, expect, inject, it, vi } from "vitest";
import { CONSENT_ARMING_MS } from "../../contract/consent-arming.ts";
import { edgeOAuth } from "../../worker/auth/authorization-server.ts";
import { grantCode } from "../../worker/auth/grant-code.ts";
import { edgeConfig } from "../../worker/config.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL, testEnv } from "./edge-env.ts";
import { pkcePair } from "./pkce.ts";
import {
  authorizationCode,
  authorizeUrl,
  CLIENT_REDIRECT,
  codeExchange,
  cookiesOf,
  decide,
  EDGE_CALLBACK,
  exchangeCode,
  mcpStatus,
  openConsent,
  register,
  registerClient,
  signedInTokens,
  signInAtIdp,
  type Tokens,
  tokenRequest,
} from "./sign-in.ts";

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
    // From a real app this is a stale registration: starting again cannot help, registering anew does (s24 hunt pages F7).
    const text = (await response.text()).replaceAll("&#39;", "'");
    expect(text).toContain("its registration is probably out of date");
    expect(text).toContain("remove the server's saved sign-in in the app");
    expect(text).not.toContain("Start again from your MCP client");
  });

  it("refuses the plain PKCE method", async () => {
    const clientId = await registerClient();
    const response = await callEdge(authorizeUrl(clientId, "a".repeat(43), { code_challenge_method: "plain" }));
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get("location") ?? "").searchParams.get("error")).toBe("invalid_request");
  });

  it("refuses an authorization request without a code_challenge, from a confidential client too", async () => {
    const { client_id: clientId, client_secret: secret } = await register("Confidential client", "client_secret_basic");
    expect(secret).toBeTruthy();
    const url = new URL(authorizeUrl(clientId, "unused"), PUBLIC_URL);
    url.searchParams.delete("code_challenge");
    url.searchParams.delete("code_challenge_method");
    const response = await callEdge(`${url.pathname}${url.search}`);
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") ?? "");
    expect(location.searchParams.get("error")).toBe("invalid_request");
    expect(location.searchParams.get("error_description")).toContain("code_challenge is required");
  });

  it("refuses a consent form posted without the browser's binding cookie (forged or from another site)", async () => {
    const clientId = await registerClient();
    const { handle } = await openConsent(clientId, (await pkcePair()).challenge);
    const response = await decide(handle, "approve");
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
    // Said as what can have happened, not the library's "not started in this browser" (s24 hunt pages F7).
    expect(await response.text()).toContain(
      "This sign-in was already finished, has expired (a sign-in page lasts 10 minutes), or was started in another browser.",
    );
    expect(await (await decide(handle, "approve")).text()).toContain("or at the dashboard (/ops) for its sign-in");
  });

  it("refuses an Allow posted as the consent page appears (double-click hijacking, s24 hunt pages F1), and takes one made later", async () => {
    const clientId = await registerClient();
    const { html, handle, cookie } = await openConsent(clientId, (await pkcePair()).challenge);
    const shown = /name="shown" value="(\d+)"/.exec(html)?.[1] as string;
    expect(Number(shown)).toBeGreaterThan(0);
    const tooSoon = await decide(handle, "approve", cookie, { shown });
    expect(tooSoon.status).toBe(400);
    expect(tooSoon.headers.get("location")).toBeNull();
    expect(await tooSoon.text()).toContain("too soon to have been meant for it");
    // The same page, read for a moment: its Allow goes on to the identity provider.
    await new Promise((resolve) => setTimeout(resolve, CONSENT_ARMING_MS + 50));
    const meant = await decide(handle, "approve", cookie, { shown });
    expect(meant.status).toBe(302);
    const atIdp = new URL(meant.headers.get("location") ?? "");
    expect(atIdp.searchParams.get("response_type")).toBe("code"); // on to the identity provider's sign-in
    expect(atIdp.searchParams.get("error")).toBeNull();
  });

  it("asks the identity provider for an account choice when the box is ticked, which a client's prompt ticks (s24 hunt pages F2)", async () => {
    const clientId = await registerClient();
    const challenge = (await pkcePair()).challenge;
    const consentFor = async (prompt?: string) => {
      const page = await callEdge(authorizeUrl(clientId, challenge, prompt ? { prompt } : {}));
      const html = await page.text();
      const handle = /name="handle" value="([^"]+)"/.exec(html)?.[1] ?? "";
      return { html, handle, cookie: cookiesOf(page) };
    };
    const ticked = (html: string) => /name="choose_account" value="1" checked/.test(html);
    expect(ticked((await consentFor()).html)).toBe(false);
    expect(ticked((await consentFor("select_account")).html)).toBe(true);
    expect(ticked((await consentFor("login consent")).html)).toBe(true);
    expect(ticked((await consentFor("consent")).html)).toBe(false);

    const atIdp = async (fields: Record<string, string>) => {
      const { handle, cookie } = await consentFor();
      const allowed = await decide(handle, "approve", cookie, fields);
      expect(allowed.status).toBe(302);
      return allowed.headers.get("location") ?? "";
    };
    const idpPrompt = async (fields: Record<string, string>) => new URL(await atIdp(fields)).searchParams.get("prompt");
    expect(await idpPrompt({ choose_account: "1" })).toBe("select_account");
    // The identity provider takes it (the local one as Google does: an account choice, then back to the edge).
    const back = await signInAtIdp(await atIdp({ choose_account: "1" }));
    expect(back.searchParams.get("code")).toBeTruthy();
    expect(await idpPrompt({})).toBeNull();
    // Whatever else the box is made to say, the IdP is asked for nothing but an account choice.
    expect(await idpPrompt({ choose_account: "none" })).toBeNull();
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
    expect(mcp.status).toBe(503);
    expect(await mcp.json()).toMatchObject({
      id: 7,
      error: { code: -32000, message: 'the origin could not be reached for server "everything"; try again shortly' },
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
    const audit = capturedAudit();
    const onlyOther = { IDP_ALLOWED_DOMAINS: "other.example", ...audit.env }; // the auto-signed-in dev user is of example.com
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
    const refusal = await callback.text();
    expect(refusal).toContain("accounts of example.com may not use this proxy");
    expect(refusal).toMatch(/You signed in as [^<]+@example\.com, and accounts of example\.com may not use this proxy\./);
    expect(refusal).toContain("Sign out of that account at the identity provider");
    expect(refusal).toContain("or at the dashboard (/ops) for its sign-in"); // the dashboard's sign-in is refused here too
    // Audited with the step and the user the id_token named.
    await expect.poll(() => audit.events.length).toBe(1);
    expect(audit.events[0]).toMatchObject({
      kind: "auth.denied",
      method: "/callback (email_domain)",
      httpStatus: 403,
      userEmail: expect.stringMatching(/@example\.com$/),
    });
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
    expect(await mcpStatus(second.access_token)).toBe(503);
  });

  it("lets nothing through with a revoked access token", async () => {
    const clientId = await registerClient();
    const tokens = await signedInTokens(clientId);
    expect(await mcpStatus(tokens.access_token)).toBe(503);
    const revoked = await tokenRequest({ token: tokens.access_token, client_id: clientId });
    expect(revoked.status).toBe(200);
    expect(await mcpStatus(tokens.access_token)).toBe(401);
  });

  /** The identity provider's answer `error=<error>` to a sign-in, and where the edge sends the app. */
  async function idpAnswers(error: string, env?: Record<string, unknown>): Promise<URL> {
    const clientId = await registerClient();
    const { handle, cookie } = await openConsent(clientId, (await pkcePair()).challenge);
    const approved = await decide(handle, "approve", cookie);
    const state = new URL(approved.headers.get("location") ?? "").searchParams.get("state") ?? "";
    const callback = await callEdge(
      `${EDGE_CALLBACK}?error=${encodeURIComponent(error)}&state=${encodeURIComponent(state)}`,
      { headers: { cookie: `${cookie}; ${cookiesOf(approved)}` } },
      env,
    );
    expect(callback.status).toBe(302);
    const back = new URL(callback.headers.get("location") ?? "");
    expect(`${back.origin}${back.pathname}`).toBe(CLIENT_REDIRECT);
    expect(back.searchParams.get("iss")).toBe(PUBLIC_URL);
    expect(back.searchParams.get("code")).toBeNull();
    return back;
  }

  it("tells the client access_denied when the user declines at the identity provider", async () => {
    const back = await idpAnswers("access_denied");
    expect(back.searchParams.get("error")).toBe("access_denied");
  });

  it("tells the client the identity provider is unavailable when it says so, not that the user refused (s24 hunt pages F8)", async () => {
    const back = await idpAnswers("temporarily_unavailable");
    expect(back.searchParams.get("error")).toBe("temporarily_unavailable");
    expect(back.searchParams.get("error_description")).toBe("the identity provider answered temporarily_unavailable");
    // Anything but a plain code is not repeated.
    const odd = await idpAnswers("<script>alert(1)</script>");
    expect(odd.searchParams.get("error")).toBe("access_denied");
    expect(odd.searchParams.get("error_description")).toBe("the identity provider answered an error");
  });

  it("records a sign-in the identity provider refused, or whose code it would not exchange, as auth.denied (s24 hunt observability F15)", async () => {
    const audit = capturedAudit();
    await idpAnswers("access_denied", audit.env);
    await idpAnswers("temporarily_unavailable", audit.env);
    // A forged code: the provider refuses to exchange it.
    const clientId = await registerClient();
    const { handle, cookie } = await openConsent(clientId, (await pkcePair()).challenge);
    const approved = await decide(handle, "approve", cookie);
    const state = new URL(approved.headers.get("location") ?? "").searchParams.get("state") ?? "";
    const forged = await callEdge(
      `${EDGE_CALLBACK}?code=forged-code&state=${encodeURIComponent(state)}`,
      { headers: { cookie: `${cookie}; ${cookiesOf(approved)}` } },
      audit.env,
    );
    expect(forged.status).toBe(502);
    await expect.poll(() => audit.events.length).toBe(3);
    expect(audit.events.map(({ kind, outcome, method, httpStatus }) => ({ kind, outcome, method, httpStatus }))).toEqual([
      { kind: "auth.denied", outcome: "denied", method: "/callback (idp_error)", httpStatus: 302 },
      { kind: "auth.denied", outcome: "unavailable", method: "/callback (idp_error)", httpStatus: 302 },
      { kind: "auth.denied", outcome: "denied", method: "/callback (code_exchange)", httpStatus: 502 },
    ]);
  });

  it("records a sign-in whose code exchange found the provider down or failing as unavailable, not denied (s25 review F2)", async () => {
    const audit = capturedAudit();
    const passThrough = globalThis.fetch;
    // The provider's token endpoint: first failing (503), then unreachable.
    const outages: (() => Promise<Response>)[] = [
      async () => new Response("upstream connect error", { status: 503 }),
      async () => {
        throw new TypeError("Network connection lost.");
      },
    ];
    for (const outage of outages) {
      const clientId = await registerClient();
      const { handle, cookie } = await openConsent(clientId, (await pkcePair()).challenge);
      const approved = await decide(handle, "approve", cookie);
      const finalUrl = await signInAtIdp(approved.headers.get("location") ?? "");
      vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) =>
        init?.method === "POST" && String(input).startsWith(inject("idpIssuer")) ? outage() : passThrough(input, init),
      );
      try {
        const callback = await callEdge(
          `${finalUrl.pathname}${finalUrl.search}`,
          { headers: { cookie: `${cookie}; ${cookiesOf(approved)}` } },
          audit.env,
        );
        expect(callback.status).toBe(502);
      } finally {
        vi.unstubAllGlobals();
      }
    }
    await expect.poll(() => audit.events.length).toBe(2);
    expect(audit.events.map(({ outcome, method }) => ({ outcome, method }))).toEqual([
      { outcome: "unavailable", method: "/callback (code_exchange)" },
      { outcome: "unavailable", method: "/callback (code_exchange)" },
    ]);
  });

  it("records a sign-in whose id_token fails its checks as auth.denied at the id_token step, without a user", async () => {
    const audit = capturedAudit();
    const clientId = await registerClient();
    const { handle, cookie } = await openConsent(clientId, (await pkcePair()).challenge);
    const approved = await decide(handle, "approve", cookie);
    const finalUrl = await signInAtIdp(approved.headers.get("location") ?? "");
    // The identity provider's answer to the code exchange, its id_token's signature altered on the way.
    const passThrough = globalThis.fetch;
    vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
      const answer = await passThrough(input, init);
      if (init?.method !== "POST" || !String(input).startsWith(inject("idpIssuer"))) return answer;
      const body = (await answer.json()) as { id_token: string };
      const [header, payload, signature] = body.id_token.split(".") as [string, string, string];
      const forged = `${header}.${payload}.${[...signature].reverse().join("")}`;
      return Response.json({ ...body, id_token: forged }, { status: answer.status });
    });
    try {
      const callback = await callEdge(
        finalUrl.toString(),
        { headers: { cookie: `${cookie}; ${cookiesOf(approved)}` } },
        audit.env,
      );
      expect(callback.status).toBe(502);
    } finally {
      vi.unstubAllGlobals();
    }
    await expect.poll(() => audit.events.length).toBe(1);
    expect(audit.events[0]).toMatchObject({ kind: "auth.denied", outcome: "denied", method: "/callback (id_token)", clientId });
    expect(audit.events[0]?.userSub).toBeUndefined();
  });

  it("records a replayed authorization code at the token endpoint as auth.denied, with the check the library names", async () => {
    const audit = capturedAudit();
    const clientId = await registerClient();
    const pkce = await pkcePair();
    const code = await authorizationCode(clientId, pkce.challenge);
    const exchange = () => callEdge("/oauth/token", codeExchange(clientId, code, pkce.verifier), audit.env);
    expect((await exchange()).status).toBe(200);
    const replayed = await exchange();
    expect(replayed.status).toBe(400);
    expect(await replayed.json()).toMatchObject({ error: "invalid_grant" });
    // The mark the library's hook puts on a refusal is the Worker's own.
    expect([...replayed.headers.keys()].filter((name) => name.startsWith("mcp-edge"))).toEqual([]);
    await expect.poll(() => audit.events.length).toBe(1);
    expect(audit.events[0]).toMatchObject({
      kind: "auth.denied",
      outcome: "denied",
      method: "/oauth/token (authorization-code-grant/code_replayed)",
      httpStatus: 400,
      clientId,
    });
  });

  it("records refused refresh tokens as auth.denied: another client's, a revoked grant's, an unknown client's (named by nobody)", async () => {
    const audit = capturedAudit();
    const clientId = await registerClient();
    const tokens = await signedInTokens(clientId);
    const refresh = (params: Record<string, string>) =>
      tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, ...params }, audit.env);
    const otherClient = await registerClient();
    expect((await refresh({ client_id: otherClient })).status).toBe(400);
    expect((await refresh({ client_id: "no-such-client" })).status).toBe(401);
    expect((await tokenRequest({ token: tokens.refresh_token, client_id: clientId })).status).toBe(200);
    expect((await refresh({ client_id: clientId })).status).toBe(400);
    await expect.poll(() => audit.events.length).toBe(3);
    expect(audit.events.map(({ kind, method, httpStatus, clientId }) => ({ kind, method, httpStatus, clientId }))).toEqual([
      {
        kind: "auth.denied",
        method: "/oauth/token (refresh-token-grant/client_mismatch)",
        httpStatus: 400,
        clientId: otherClient,
      },
      {
        kind: "auth.denied",
        method: "/oauth/token (client-authentication/client_not_found)",
        httpStatus: 401,
        clientId: undefined,
      },
      { kind: "auth.denied", method: "/oauth/token (refresh-token-grant/grant_not_found)", httpStatus: 400, clientId },
    ]);
  });

  it("shows a page, and keeps the consent, when the identity provider cannot be reached at Allow (s24 hunt pages F6)", async () => {
    const clientId = await registerClient();
    const { html, handle, cookie } = await openConsent(clientId, (await pkcePair()).challenge);
    await new Promise((resolve) => setTimeout(resolve, CONSENT_ARMING_MS));
    const fields = { shown: /name="shown" value="(\d+)"/.exec(html)?.[1] as string };
    const unreachable = await callEdge(
      "/authorize",
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie },
        body: new URLSearchParams({ handle, decision: "approve", ...fields }),
      },
      { IDP_ISSUER: "http://127.0.0.1:1", IDP_REQUEST_TIMEOUT_SECONDS: "2" },
    );
    expect(unreachable.status).toBe(502);
    expect(unreachable.headers.get("content-type")).toContain("text/html");
    expect(await unreachable.text()).toContain("The identity provider could not be reached just now");
    // The consent was not used up: Allow again, the provider back, goes on to it.
    const again = await decide(handle, "approve", cookie, fields);
    expect(again.status).toBe(302);
    expect(new URL(again.headers.get("location") ?? "").searchParams.get("response_type")).toBe("code");
  });
});

describe("users whose identity-provider sub is unusual", () => {
  it("signs in a user whose sub contains ':' (the library's token separator), and the token works", async () => {
    const config = edgeConfig(testEnv());
    const oauth = edgeOAuth(config).authorizationServer.getOAuthApi(testEnv());
    const clientId = await registerClient();
    const pkce = await pkcePair();
    const request = await oauth.parseAuthRequest(new Request(new URL(authorizeUrl(clientId, pkce.challenge), PUBLIC_URL)));
    const user = { sub: "urn:tenant:42:user", email: "colon@example.com", groups: [] };
    const back = new URL(await grantCode(oauth, request, user, [], testEnv().OAUTH_KV));
    const token = await exchangeCode(clientId, back.searchParams.get("code") ?? "", pkce.verifier);
    expect(token.status).toBe(200);
    const tokens = (await token.json()) as Tokens;
    expect(tokens.access_token).not.toContain("urn:tenant"); // the sub stays out of the tokens clients hold
    expect(await mcpStatus(tokens.access_token)).toBe(503);
  });
});
