import { describe, expect, it } from "vitest";
import { callEdge, PUBLIC_URL, testEnv } from "./edge-env.ts";
import { pkcePair } from "./pkce.ts";
import {
  authorizationCode,
  authorizeUrl,
  CLIENT_REDIRECT,
  cookiesOf,
  decide,
  exchangeCode,
  registerClient,
  signInAtIdp,
  tokenRequest,
} from "./sign-in.ts";

// Authorization and token requests that break a rule of the edge, each refused; and the clients that used to be.

const register = (metadata: object) =>
  callEdge("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "Client", token_endpoint_auth_method: "none", ...metadata }),
  });

/** The browser's part from /authorize to the client's redirect URI, for any authorization URL. */
async function signInThrough(url: string): Promise<{ consent: string; back: URL }> {
  const page = await callEdge(url);
  expect(page.status).toBe(200);
  const consent = await page.text();
  const handle = /name="handle" value="([^"]+)"/.exec(consent)?.[1] ?? "";
  const cookie = cookiesOf(page);
  const approved = await decide(handle, "approve", cookie);
  const finalUrl = await signInAtIdp(approved.headers.get("location") ?? "");
  const callback = await callEdge(finalUrl.toString(), { headers: { cookie: `${cookie}; ${cookiesOf(approved)}` } });
  return { consent, back: new URL(callback.headers.get("location") ?? "") };
}

describe("scopes", () => {
  it("grants only the scopes this edge defines (scope=admin mcp yields mcp)", async () => {
    const clientId = await registerClient();
    const pkce = await pkcePair();
    const { consent, back } = await signInThrough(authorizeUrl(clientId, pkce.challenge, { scope: "admin mcp" }));
    expect(consent).not.toContain("admin");
    const token = await exchangeCode(clientId, back.searchParams.get("code") ?? "", pkce.verifier);
    expect(token.status).toBe(200);
    expect(((await token.json()) as { scope: string }).scope).toBe("mcp");
  });

  it("grants the baseline mcp to a client that asks for no scope it knows", async () => {
    const clientId = await registerClient();
    const pkce = await pkcePair();
    const { back } = await signInThrough(authorizeUrl(clientId, pkce.challenge, { scope: "admin" }));
    const token = await exchangeCode(clientId, back.searchParams.get("code") ?? "", pkce.verifier);
    expect(((await token.json()) as { scope: string }).scope).toBe("mcp");
  });
});

describe("PKCE syntax (RFC 7636)", () => {
  it("refuses a code_verifier that is too short, too long or has characters outside the unreserved set", async () => {
    const clientId = await registerClient();
    const pkce = await pkcePair();
    const code = await authorizationCode(clientId, pkce.challenge);
    for (const verifier of ["short", "a".repeat(129), `${"a".repeat(42)}+`, `${"a".repeat(42)} `]) {
      const token = await exchangeCode(clientId, code, verifier);
      expect(token.status).toBe(400);
      expect(await token.json()).toMatchObject({ error: "invalid_request" });
    }
    // Nothing was spent on the malformed attempts: the right verifier still works.
    expect((await exchangeCode(clientId, code, pkce.verifier)).status).toBe(200);
  });

  it("refuses an S256 code_challenge that is not 43 base64url characters, back to the client", async () => {
    const clientId = await registerClient();
    const response = await callEdge(authorizeUrl(clientId, "not+a+challenge"));
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") ?? "");
    expect(`${location.origin}${location.pathname}`).toBe(CLIENT_REDIRECT);
    expect(location.searchParams.get("error")).toBe("invalid_request");
  });
});

describe("errors found before the consent page (open redirector, s24 hunt pages F11)", () => {
  const phish = "https://phish.example/login";
  const claude = "https://claude.ai/api/mcp/auth_callback";
  const clientWith = async (redirectUri: string, name = "Client") => {
    const registered = await register({ client_name: name, redirect_uris: [redirectUri] });
    expect(registered.status).toBe(201);
    return ((await registered.json()) as { client_id: string }).client_id;
  };
  // Each breaks a rule the edge checks before anyone has seen a page: the library's, the PKCE syntax, the ops resource.
  const brokenRequests: Record<string, (challenge: string) => Record<string, string>> = {
    "an implicit-grant response_type": () => ({ response_type: "token" }),
    "the plain PKCE method": () => ({ code_challenge: "a".repeat(43), code_challenge_method: "plain" }),
    "a malformed code_challenge": () => ({ code_challenge: "not+a+challenge" }),
    "the ops dashboard's resource": () => ({ resource: `${PUBLIC_URL}/ops` }),
  };

  for (const [rule, overrides] of Object.entries(brokenRequests)) {
    it(`shows ${rule} on a page, never sending the browser to an unverified client's https address`, async () => {
      const clientId = await clientWith(phish);
      const challenge = (await pkcePair()).challenge;
      const response = await callEdge(authorizeUrl(clientId, challenge, { redirect_uri: phish, ...overrides(challenge) }));
      expect(response.status).toBe(400);
      expect(response.headers.get("location")).toBeNull();
      expect(await response.text()).toContain("This app&#39;s sign-in request was refused (");
    });
  }

  it("puts none of the request's own text on its page, only the edge's sentence for the error (s25 review F3)", async () => {
    const clientId = await clientWith(phish);
    const challenge = (await pkcePair()).challenge;
    const crafted = "Your account is locked. Call the helpdesk on +1 555 0100 and read them your one-time code";
    for (const [overrides, sentence] of [
      [{ response_type: crafted }, "it asked for a kind of answer this proxy does not give (only authorization codes)"],
      [{ code_challenge_method: crafted }, "a part a sign-in needs is missing or malformed"],
    ] as const) {
      const response = await callEdge(authorizeUrl(clientId, challenge, { redirect_uri: phish, ...overrides }));
      expect(response.status).toBe(400);
      const text = await response.text();
      expect(text).toContain(sentence);
      expect(text).not.toContain("account is locked");
      expect(text).not.toContain("555 0100");
    }
  });

  it("still names the refusal at the client's loopback or native-app address, and at a vendor callback the table proves", async () => {
    const challenge = (await pkcePair()).challenge;
    const destinations: [string, string][] = [
      [CLIENT_REDIRECT, "Client"],
      ["cursor://anysphere.cursor-mcp/oauth/callback", "Cursor"],
      [claude, "Claude"],
    ];
    for (const [redirectUri, name] of destinations) {
      const clientId = await clientWith(redirectUri, name);
      const response = await callEdge(authorizeUrl(clientId, challenge, { redirect_uri: redirectUri, response_type: "token" }));
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get("location") ?? "");
      expect(`${location.protocol}//${location.host}${location.pathname}`).toBe(redirectUri);
      expect(location.searchParams.get("error")).toBeTruthy();
    }
  });

  it("shows the error on a page for an app scheme the table does not list, whatever the app calls itself (s25 review F1)", async () => {
    for (const name of ["Client", "Cursor"]) {
      const clientId = await clientWith("acme-agent://callback", name);
      const response = await callEdge(
        authorizeUrl(clientId, (await pkcePair()).challenge, { redirect_uri: "acme-agent://callback", response_type: "token" }),
      );
      expect(response.status).toBe(400);
      expect(response.headers.get("location")).toBeNull();
    }
  });

  it("takes a vendor's name as no proof: an unverified client called Claude gets the page", async () => {
    const clientId = await clientWith(phish, "Claude");
    const response = await callEdge(
      authorizeUrl(clientId, (await pkcePair()).challenge, { redirect_uri: phish, response_type: "token" }),
    );
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
  });
});

describe("native apps' redirect URIs (Cursor)", () => {
  const cursor = "cursor://anysphere.cursor-mcp/oauth/callback";
  const cursorUris = [cursor, "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"];

  it("registers Cursor's three redirect URIs and signs in through cursor://, showing the scheme on consent", async () => {
    const registered = await register({ redirect_uris: cursorUris, grant_types: ["authorization_code", "refresh_token"] });
    expect(registered.status).toBe(201);
    const clientId = ((await registered.json()) as { client_id: string }).client_id;
    const pkce = await pkcePair();
    const { consent, back } = await signInThrough(authorizeUrl(clientId, pkce.challenge, { redirect_uri: cursor }));
    expect(consent).toContain("cursor://");
    expect(consent).toContain("this computer");
    expect(back.protocol).toBe("cursor:");
    expect(back.searchParams.get("code")).toBeTruthy();
    const token = await callEdge("/oauth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: back.searchParams.get("code") ?? "",
        redirect_uri: cursor,
        client_id: clientId,
        code_verifier: pkce.verifier,
      }),
    });
    expect(token.status).toBe(200);
  });

  it("still refuses a private-use URI the client did not register (exact match)", async () => {
    const registered = await register({ redirect_uris: cursorUris });
    const clientId = ((await registered.json()) as { client_id: string }).client_id;
    const response = await callEdge(
      authorizeUrl(clientId, (await pkcePair()).challenge, { redirect_uri: "cursor://anysphere.cursor-mcp/other" }),
    );
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
  });

  it("refuses a client name with control or invisible formatting characters, and takes one with accents (s24 hunt pages F12)", async () => {
    for (const name of ["\u202EedualC\u202C", "Claude\u200B", "Clau\u0000de", "Claude\u2066x\u2069"]) {
      const response = await register({ client_name: name, redirect_uris: [CLIENT_REDIRECT] });
      expect(response.status, JSON.stringify(name)).toBe(400);
      expect(await response.json()).toMatchObject({
        error: "invalid_client_metadata",
        error_description: expect.stringContaining("client_name may not contain control or invisible formatting characters"),
      });
    }
    expect((await register({ client_name: "Équipe Zoë 日本", redirect_uris: [CLIENT_REDIRECT] })).status).toBe(201);
  });

  it("refuses dangerous schemes at registration", async () => {
    const browserLaunching = [
      "microsoft-edge:https://phish.example/cb",
      "x-safari-https://phish.example/cb",
      "googlechromes://phish.example/cb",
    ];
    for (const uri of ["javascript:alert(1)//", "data:text/html,x", "file:///etc/passwd", ...browserLaunching]) {
      const response = await register({ redirect_uris: [CLIENT_REDIRECT, uri] });
      expect(response.status, uri).toBe(400);
      expect(await response.json()).toMatchObject({ error: "invalid_client_metadata" });
    }
  });
});

describe("grant types at registration (VS Code 1.101)", () => {
  it("registers a client that also asks for the device-code grant, with the grants the edge serves", async () => {
    const response = await register({
      redirect_uris: [CLIENT_REDIRECT],
      grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
    });
    expect(response.status).toBe(201);
    expect(((await response.json()) as { grant_types: string[] }).grant_types).toEqual(["authorization_code", "refresh_token"]);
  });

  it("refuses a client that asks only for grants the edge does not serve", async () => {
    const response = await register({
      redirect_uris: [CLIENT_REDIRECT],
      grant_types: ["urn:ietf:params:oauth:grant-type:device_code"],
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_client_metadata" });
  });
});

describe("a client whose registration expired or was deleted", () => {
  const forget = (clientId: string) => testEnv().OAUTH_KV.delete(`client:${clientId}`);

  it("is told invalid_client at the token endpoint, which SDK clients answer by registering again", async () => {
    const clientId = await registerClient();
    const code = await authorizationCode(clientId, (await pkcePair()).challenge);
    await forget(clientId);
    const exchanged = await tokenRequest({ grant_type: "authorization_code", code, client_id: clientId });
    expect(exchanged.status).toBe(401);
    expect(await exchanged.json()).toMatchObject({ error: "invalid_client" });
  });

  it("is told invalid_client, with where to register, when it checks its authorization URL for JSON (mcp-remote)", async () => {
    const clientId = await registerClient();
    await forget(clientId);
    const response = await callEdge(authorizeUrl(clientId, (await pkcePair()).challenge), {
      headers: { accept: "application/json" },
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as Record<string, string>;
    expect(body).toMatchObject({ error: "invalid_client", registration_endpoint: `${PUBLIC_URL}/register` });
    // Older mcp-remote versions match this wording instead of the code.
    expect(body.error_description).toMatch(/\bclient(?:\s+id)?\b\s+(?:['"][^'"]+['"]\s+)?is\s+not[\s-]+registered\b/i);
  });

  it("shows the person in the browser how to make the app register again, and never redirects", async () => {
    const clientId = await registerClient();
    await forget(clientId);
    const response = await callEdge(authorizeUrl(clientId, (await pkcePair()).challenge), {
      headers: { accept: "text/html,application/xhtml+xml,application/json;q=0.9" },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
    expect(await response.text()).toContain("connect again");
  });
});

describe("request bodies of the authorization endpoints", () => {
  /** A chunked body that never ends, counting what the edge pulled from it. */
  function endlessBody() {
    const pulled = { bytes: 0 };
    const chunk = new Uint8Array(1024).fill(0x61);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled.bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    return { stream, pulled };
  }

  for (const [path, contentType] of [
    ["/oauth/token", "application/x-www-form-urlencoded"],
    ["/register", "application/json"],
    ["/authorize", "application/x-www-form-urlencoded"],
  ] as const) {
    it(`stops reading a chunked POST ${path} body at the limit and answers 413`, async () => {
      const { stream, pulled } = endlessBody();
      const request = new Request(`${PUBLIC_URL}${path}`, {
        method: "POST",
        headers: { "content-type": contentType },
        body: stream,
      });
      const response = await callEdge(request, undefined, { OAUTH_MAX_BODY_BYTES: "4096" });
      expect(response.status).toBe(413);
      expect(pulled.bytes).toBeLessThanOrEqual(4096 + 2 * 1024);
    });
  }

  it("refuses a declared Content-Length over the limit without reading the body", async () => {
    const response = await callEdge(
      "/oauth/token",
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "content-length": "20000" },
        body: "a".repeat(20000),
      },
      { OAUTH_MAX_BODY_BYTES: "4096" },
    );
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: "invalid_request" });
  });
});
