// The local OpenID provider (local/idp), driven over real HTTP on loopback, and the headless
// redirect follower the end-to-end tests reuse. Providers are started on port 0; the issuer carries
// the real port.

import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CookieJar, decodeEntities, followRedirects } from "../../local/idp/headless-sign-in.ts";
import { DEV_ACCOUNTS, type RunningIdp, startIdp } from "../../local/idp/start-idp.ts";

const CLIENT = { clientId: "proxy-test", clientSecret: "proxy-test-secret", redirectUris: ["http://127.0.0.1:9/oauth/callback"] };
const REDIRECT_URI = CLIENT.redirectUris[0] ?? "";

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint: string;
  scopes_supported: string[];
  code_challenge_methods_supported: string[];
  token_endpoint_auth_methods_supported: string[];
}

interface AuthRequest {
  url: string;
  state: string;
  nonce: string;
  verifier: string;
}

const b64url = (bytes: Buffer) => bytes.toString("base64url");

async function discover(issuer: string): Promise<Discovery> {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  expect(response.status).toBe(200);
  return (await response.json()) as Discovery;
}

function authRequest(discovery: Discovery, overrides: Record<string, string | undefined> = {}): AuthRequest {
  const state = b64url(randomBytes(12));
  const nonce = b64url(randomBytes(12));
  const verifier = b64url(randomBytes(32));
  const url = new URL(discovery.authorization_endpoint);
  const params: Record<string, string | undefined> = {
    response_type: "code",
    client_id: CLIENT.clientId,
    redirect_uri: REDIRECT_URI,
    scope: "openid email profile groups",
    state,
    nonce,
    code_challenge: b64url(createHash("sha256").update(verifier).digest()),
    code_challenge_method: "S256",
    ...overrides,
  };
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  return { url: url.href, state, nonce, verifier };
}

const atRedirectUri = (url: URL) => `${url.origin}${url.pathname}` === REDIRECT_URI;

async function exchange(discovery: Discovery, code: string, verifier: string, auth: "post" | "basic") {
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
  });
  const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded" };
  if (auth === "post") {
    form.set("client_id", CLIENT.clientId);
    form.set("client_secret", CLIENT.clientSecret);
  } else {
    const credentials = `${encodeURIComponent(CLIENT.clientId)}:${encodeURIComponent(CLIENT.clientSecret)}`;
    headers.Authorization = `Basic ${Buffer.from(credentials).toString("base64")}`;
  }
  const response = await fetch(discovery.token_endpoint, { method: "POST", headers, body: form });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function verifyIdToken(discovery: Discovery, idToken: unknown, nonce: string): Promise<JWTPayload> {
  expect(typeof idToken).toBe("string");
  const { payload, protectedHeader } = await jwtVerify(String(idToken), createRemoteJWKSet(new URL(discovery.jwks_uri)), {
    issuer: discovery.issuer,
    audience: CLIENT.clientId,
  });
  expect(["RS256", "ES256"]).toContain(protectedHeader.alg);
  expect(payload.nonce).toBe(nonce);
  return payload;
}

/** Authorization URL -> redirect_uri headlessly, then code -> tokens -> verified id_token. */
async function signInHeadlessly(discovery: Discovery): Promise<JWTPayload> {
  const request = authRequest(discovery);
  const { finalUrl } = await followRedirects(request.url, { stopAt: atRedirectUri });
  expect(finalUrl.searchParams.get("state")).toBe(request.state);
  const code = finalUrl.searchParams.get("code");
  expect(code).toBeTruthy();
  const tokens = await exchange(discovery, code ?? "", request.verifier, "post");
  expect(tokens.status).toBe(200);
  return verifyIdToken(discovery, tokens.json.id_token, request.nonce);
}

describe("local IdP with auto sign-in (default account)", () => {
  let idp: RunningIdp;
  let discovery: Discovery;

  beforeAll(async () => {
    idp = await startIdp({ port: 0, clients: [CLIENT] });
    discovery = await discover(idp.issuer);
  });
  afterAll(async () => {
    await idp?.close();
  });

  it("publishes a discovery document whose issuer is the returned issuer", () => {
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(discovery.issuer).toBe(idp.issuer);
    expect(discovery.code_challenge_methods_supported).toEqual(["S256"]);
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(["openid", "email", "profile", "groups"]));
    expect(discovery.token_endpoint_auth_methods_supported).toEqual(
      expect.arrayContaining(["client_secret_basic", "client_secret_post"]),
    );
  });

  it("runs the whole code flow headlessly and issues a verifiable id_token for the default account", async () => {
    const request = authRequest(discovery);
    const jar = new CookieJar();
    const { finalUrl } = await followRedirects(request.url, { jar, stopAt: atRedirectUri });
    expect(`${finalUrl.origin}${finalUrl.pathname}`).toBe(REDIRECT_URI);
    expect(finalUrl.searchParams.get("state")).toBe(request.state);
    expect(finalUrl.searchParams.get("iss")).toBe(idp.issuer);
    const code = finalUrl.searchParams.get("code") ?? "";
    expect(code).not.toBe("");
    // The provider's session cookie came back through the jar.
    expect(jar.cookieHeader(idp.issuer)).toMatch(/_session=/);

    const tokens = await exchange(discovery, code, request.verifier, "post");
    expect(tokens.status).toBe(200);
    expect(tokens.json.token_type).toMatch(/^bearer$/i);
    const claims = await verifyIdToken(discovery, tokens.json.id_token, request.nonce);
    expect(claims).toMatchObject({
      sub: "dev-user-1",
      email: "dev@example.com",
      email_verified: true,
      name: "Dev User",
      hd: "example.com",
      groups: ["engineering"],
    });

    // The access token works at userinfo too.
    const userinfo = await fetch(discovery.userinfo_endpoint, {
      headers: { Authorization: `Bearer ${String(tokens.json.access_token)}` },
    });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toMatchObject({ sub: "dev-user-1", email: "dev@example.com", groups: ["engineering"] });

    // The code is single use; replaying it also revokes what it issued (RFC 6749 section 4.1.2).
    const again = await exchange(discovery, code, request.verifier, "post");
    expect(again.status).toBe(400);
    expect(again.json.error).toBe("invalid_grant");
    const revoked = await fetch(discovery.userinfo_endpoint, {
      headers: { Authorization: `Bearer ${String(tokens.json.access_token)}` },
    });
    expect(revoked.status).toBe(401);
  });

  it("signs in again with the same cookie jar without any page", async () => {
    const jar = new CookieJar();
    for (let i = 0; i < 2; i += 1) {
      const request = authRequest(discovery);
      const { finalUrl } = await followRedirects(request.url, { jar, stopAt: atRedirectUri });
      const tokens = await exchange(discovery, finalUrl.searchParams.get("code") ?? "", request.verifier, "basic");
      expect(tokens.status).toBe(200);
      expect((await verifyIdToken(discovery, tokens.json.id_token, request.nonce)).email).toBe("dev@example.com");
    }
  });

  it("accepts Google's prompt=select_account and prompt=consent, signed in or not", async () => {
    const jar = new CookieJar();
    for (const prompt of ["select_account", "select_account", "consent", "consent select_account"]) {
      const request = authRequest(discovery, { prompt });
      const { finalUrl } = await followRedirects(request.url, { jar, stopAt: atRedirectUri });
      expect(finalUrl.searchParams.get("error_description")).toBeNull();
      const tokens = await exchange(discovery, finalUrl.searchParams.get("code") ?? "", request.verifier, "post");
      expect(tokens.status).toBe(200);
      expect((await verifyIdToken(discovery, tokens.json.id_token, request.nonce)).email).toBe("dev@example.com");
    }
  });

  it("refuses a token request whose code_verifier does not match (client_secret_basic)", async () => {
    const request = authRequest(discovery);
    const { finalUrl } = await followRedirects(request.url, { stopAt: atRedirectUri });
    const code = finalUrl.searchParams.get("code") ?? "";
    expect(code).not.toBe("");
    const wrong = await exchange(discovery, code, b64url(randomBytes(32)), "basic");
    expect(wrong.status).toBe(400);
    expect(wrong.json.error).toBe("invalid_grant");
    expect(wrong.json.id_token).toBeUndefined();
  });

  it("refuses an authorization request without PKCE", async () => {
    const request = authRequest(discovery, { code_challenge: undefined, code_challenge_method: undefined });
    const { finalUrl } = await followRedirects(request.url, { stopAt: atRedirectUri });
    // Errors with a valid redirect_uri go back to the client.
    expect(finalUrl.searchParams.get("code")).toBeNull();
    expect(finalUrl.searchParams.get("error")).toBe("invalid_request");
    expect(finalUrl.searchParams.get("error_description")).toMatch(/PKCE/);
  });

  it("refuses a redirect_uri that is not registered, without redirecting to it", async () => {
    const request = authRequest(discovery, { redirect_uri: "http://127.0.0.1:9/oauth/callback/evil" });
    const response = await fetch(request.url, { redirect: "manual" });
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
    const body = await response.text();
    expect(body).toMatch(/redirect_uri/);
    expect(body).not.toMatch(/<script/i);
  });

  it("refuses a second start on the same port with a message naming the port and the option", async () => {
    const { port } = new URL(idp.issuer);
    await expect(startIdp({ port: Number(port), clients: [CLIENT] })).rejects.toThrow(
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use.*\`port\` option`),
    );
    // The first provider is unharmed.
    expect((await discover(idp.issuer)).issuer).toBe(idp.issuer);
  });
});

describe("local IdP with the account picker (autoSignIn: false)", () => {
  let idp: RunningIdp;
  let discovery: Discovery;

  beforeAll(async () => {
    idp = await startIdp({ port: 0, clients: [CLIENT], autoSignIn: false });
    discovery = await discover(idp.issuer);
  });
  afterAll(async () => {
    await idp?.close();
  });

  it("lists the dev accounts and signs in as the one whose form is posted", async () => {
    const request = authRequest(discovery);
    const jar = new CookieJar();
    // No stopAt: the chain ends at the picker page.
    const page = await followRedirects(request.url, { jar });
    expect(page.status).toBe(200);
    expect(page.finalUrl.pathname).toMatch(/^\/interaction\/[\w-]+$/);
    const html = page.body ?? "";
    for (const account of DEV_ACCOUNTS) expect(html).toContain(`value="${account.email}"`);

    const forms = [
      ...html.matchAll(/<form method="post" action="([^"]+)">\s*<input type="hidden" name="account" value="([^"]+)">/g),
    ];
    expect(forms.map((form) => form[2])).toEqual(DEV_ACCOUNTS.map((account) => account.email));
    const second = forms[1];
    expect(second?.[2]).toBe("ops@example.com");
    const action = new URL(decodeEntities(second?.[1] ?? ""), page.finalUrl);

    const posted = await fetch(action, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: jar.cookieHeader(action) ?? "" },
      body: new URLSearchParams({ account: second?.[2] ?? "" }),
    });
    expect(posted.status).toBe(303);
    jar.storeFrom(action, posted.headers);
    const location = new URL(posted.headers.get("location") ?? "", action);

    const { finalUrl } = await followRedirects(location.href, { jar, stopAt: atRedirectUri });
    expect(finalUrl.searchParams.get("state")).toBe(request.state);
    const tokens = await exchange(discovery, finalUrl.searchParams.get("code") ?? "", request.verifier, "post");
    expect(tokens.status).toBe(200);
    const claims = await verifyIdToken(discovery, tokens.json.id_token, request.nonce);
    expect(claims).toMatchObject({ sub: "ops-user-1", email: "ops@example.com", hd: "example.com", groups: ["ops"] });
  });

  it("does not sign anybody in from the interaction page alone", async () => {
    const request = authRequest(discovery);
    await expect(followRedirects(request.url, { stopAt: atRedirectUri })).rejects.toThrow(/status 200 before reaching stopAt/);
  });

  it("rejects an account that is not a dev account", async () => {
    const request = authRequest(discovery);
    const jar = new CookieJar();
    const page = await followRedirects(request.url, { jar });
    const action = new URL(`${page.finalUrl.pathname}/login`, page.finalUrl);
    const posted = await fetch(action, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: jar.cookieHeader(action) ?? "" },
      body: new URLSearchParams({ account: "<b>mallory@evil.example</b>" }),
    });
    expect(posted.status).toBe(400);
    const body = await posted.text();
    expect(body).toContain("&lt;b&gt;mallory@evil.example&lt;/b&gt;");
    expect(body).not.toContain("<b>mallory");
  });
});

describe("local IdP auto-signing-in an account without a hosted domain", () => {
  it("omits hd like Google does for consumer accounts", async () => {
    const idp = await startIdp({ port: 0, clients: [CLIENT], autoSignIn: "guest@other.example" });
    try {
      const claims = await signInHeadlessly(await discover(idp.issuer));
      expect(claims.email).toBe("guest@other.example");
      expect(claims.hd).toBeUndefined();
      expect(claims.groups).toEqual([]);
    } finally {
      await idp.close();
    }
  });

  it("frees the port on close", async () => {
    const idp = await startIdp({ port: 0, clients: [CLIENT] });
    const port = Number(new URL(idp.issuer).port);
    await idp.close();
    const again = await startIdp({ port, clients: [CLIENT] });
    expect(again.issuer).toBe(`http://127.0.0.1:${port}`);
    await again.close();
  });

  it("refuses a host outside loopback and an unknown autoSignIn account", async () => {
    await expect(startIdp({ port: 0, host: "0.0.0.0", clients: [CLIENT] })).rejects.toThrow(/loopback/);
    await expect(startIdp({ port: 0, clients: [CLIENT], autoSignIn: "nobody@example.com" })).rejects.toThrow(/autoSignIn/);
  });
});

describe("followRedirects", () => {
  let server: Server;
  let base: string;
  const seen: { method: string; path: string; cookie: string; origin: string; body: string }[] = [];

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? "/", base);
      const body = await readBody(req);
      seen.push({
        method: req.method ?? "",
        path: url.pathname,
        cookie: req.headers.cookie ?? "",
        origin: req.headers.origin ?? "",
        body,
      });
      if (url.pathname === "/start") {
        res.writeHead(302, {
          Location: "/consent",
          "Set-Cookie": ["__Host-sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax", "temp=1; Path=/", "scoped=1; Path=/elsewhere"],
        });
        res.end();
      } else if (url.pathname === "/consent" && req.method === "GET") {
        res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Set-Cookie": "temp=; Path=/; Max-Age=0" });
        res.end(
          `<!doctype html><p>Approve?</p><form method="get" action="/search"><input type="hidden" name="q" value="x"></form>` +
            `<form method="post" action="/consent?x=1&amp;y=2"><input type="hidden" name="state" value="a&amp;b&#39;c&#x22;d&lt;&gt;&quot;">` +
            `<input name=tx type=hidden value='t&#49;'><input type="text" name="comment" value="ignored">` +
            `<button name="decision" value="approve">Approve</button><button name="decision" value="deny">Deny</button></form>`,
        );
      } else if (url.pathname === "/consent" && req.method === "POST") {
        res.writeHead(303, { Location: `${base}/callback?code=xyz&state=s1` });
        res.end();
      } else if (url.pathname === "/two-forms") {
        res.writeHead(200, { "Content-Type": "text/html" });
        res.end(`<form method="post"><input type="hidden" name="a" value="1"></form><form method="POST"></form>`);
      } else {
        res.writeHead(404);
        res.end("not found");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("follows redirects, keeps cookies, submits the single POST form with decision=approve and stops before stopAt", async () => {
    seen.length = 0;
    const jar = new CookieJar();
    const { finalUrl } = await followRedirects(`${base}/start`, {
      jar,
      approveForms: true,
      stopAt: (url) => url.pathname === "/callback",
    });
    expect(finalUrl.href).toBe(`${base}/callback?code=xyz&state=s1`);
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual(["GET /start", "GET /consent", "POST /consent"]);
    expect(seen[1]?.cookie).toBe("__Host-sid=abc; temp=1");
    const post = seen[2];
    expect(post?.cookie).toBe("__Host-sid=abc");
    expect(post?.origin).toBe(base);
    const fields = new URLSearchParams(post?.body ?? "");
    expect([...fields]).toEqual([
      ["state", `a&b'c"d<>"`],
      ["tx", "t1"],
      ["decision", "approve"],
    ]);
    expect(jar.get(base, "__Host-sid")).toBe("abc");
    expect(jar.get(`${base}/elsewhere/x`, "scoped")).toBe("1");
    expect(jar.get(`${base}/elsewhere-not`, "scoped")).toBeUndefined();
  });

  it("does not submit forms unless asked, nor when a page holds two POST forms", async () => {
    await expect(followRedirects(`${base}/start`, { stopAt: (url) => url.pathname === "/callback" })).rejects.toThrow(
      /ended at .*\/consent with status 200/,
    );
    const ended = await followRedirects(`${base}/two-forms`, { approveForms: true });
    expect(ended.status).toBe(200);
    expect(ended.finalUrl.pathname).toBe("/two-forms");
  });

  it("decodes the HTML entities of attribute values", () => {
    expect(decodeEntities("&amp;&quot;&#39;&lt;&gt;&#65;&#x42;&apos;&unknown;")).toBe(`&"'<>AB'&unknown;`);
  });
});
