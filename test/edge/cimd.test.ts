import { describe, expect, inject, it } from "vitest";
import { callEdge, PUBLIC_URL } from "./edge-env.ts";
import type { ServedDocument } from "./node/cimd-setup.ts";
import { pkcePair } from "./pkce.ts";
import { authorizeUrl, CLIENT_REDIRECT, codeExchange, cookiesOf, signInAtIdp } from "./sign-in.ts";

// Client ID Metadata Documents served by a real https host on loopback (node/cimd-setup.ts). Loopback is refused
// by the SSRF rule, so these tests name it in `oauth.cimdAllowedHosts`, exactly as local development would.
const ALLOW_LOCALHOST = { CIMD_ALLOWED_HOSTS: "localhost" };
const documentHost = () => `https://localhost:${inject("cimdPort")}`;

/** Serves a client's document at a fresh URL (the edge caches documents by URL) and returns that URL, its client_id. */
async function serveDocument(metadata: Record<string, unknown> = {}, served: Omit<ServedDocument, "body"> = {}) {
  const clientId = `${documentHost()}/documents/${crypto.randomUUID()}`;
  const document = { client_id: clientId, client_name: "Docs Client", redirect_uris: [CLIENT_REDIRECT], ...metadata };
  await serveText(clientId, JSON.stringify(document), served);
  return clientId;
}

async function serveText(url: string, body: string, served: Omit<ServedDocument, "body"> = {}) {
  const put = await fetch(url, { method: "PUT", body: JSON.stringify({ body, ...served }) });
  expect(put.status).toBe(200);
}

/** How many times the document host was asked for this URL's document. */
const fetchesOf = async (clientId: string) => Number(await (await fetch(clientId.replace("/documents/", "/hits/"))).text());

async function authorize(
  clientId: string,
  overrides: Record<string, string> = {},
  env: Record<string, string> = ALLOW_LOCALHOST,
) {
  const pkce = await pkcePair();
  const response = await callEdge(authorizeUrl(clientId, pkce.challenge, overrides), undefined, env);
  return { response, html: await response.text(), pkce };
}

describe("Client ID Metadata Documents", () => {
  it("are advertised in the authorization-server metadata, beside dynamic registration for older clients", async () => {
    const metadata = (await (await callEdge("/.well-known/oauth-authorization-server")).json()) as Record<string, unknown>;
    expect(metadata.client_id_metadata_document_supported).toBe(true);
    expect(metadata.registration_endpoint).toBe(`${PUBLIC_URL}/register`);
  });

  it("sign a client in by its document URL: consent names it and its domain, then the code exchange gives tokens", async () => {
    const clientId = await serveDocument({ client_name: "Docs Client" }, { headers: { "cache-control": "max-age=300" } });
    const { response, html, pkce } = await authorize(clientId);
    expect(response.status).toBe(200);
    expect(html).toContain("Docs Client");
    expect(html).toContain("localhost"); // the domain that vouches for the name
    const handle = /name="handle" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const cookie = cookiesOf(response);
    const form = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", cookie } };
    const approved = await callEdge(
      "/authorize",
      { ...form, body: new URLSearchParams({ handle, decision: "approve" }) },
      ALLOW_LOCALHOST,
    );
    expect(approved.status).toBe(302);
    const finalUrl = await signInAtIdp(approved.headers.get("location") ?? "");
    const callback = await callEdge(
      finalUrl.toString(),
      { headers: { cookie: `${cookie}; ${cookiesOf(approved)}` } },
      ALLOW_LOCALHOST,
    );
    const code = new URL(callback.headers.get("location") ?? "").searchParams.get("code") ?? "";
    const token = await callEdge("/oauth/token", codeExchange(clientId, code, pkce.verifier), ALLOW_LOCALHOST);
    expect(token.status).toBe(200);
    expect(((await token.json()) as { access_token?: string }).access_token).toBeTruthy();
  });

  it("accept a loopback redirect URI on any port when the document lists it without one (Claude Code)", async () => {
    const clientId = await serveDocument({ redirect_uris: ["http://localhost/callback", "http://127.0.0.1/callback"] });
    const { response } = await authorize(clientId, { redirect_uri: "http://127.0.0.1:51234/callback" });
    expect(response.status).toBe(200);
  });

  it.each([
    ["not in the document", "https://attacker.example/callback"],
    ["only prefix-matching one in the document", `${CLIENT_REDIRECT}/more`],
    ["only prefix-matching one in the document, on the host", `${CLIENT_REDIRECT.replace("/callback", "")}0/callback`],
  ])("refuse a redirect URI %s, on the edge's own page", async (_case, redirectUri) => {
    const clientId = await serveDocument();
    const { response } = await authorize(clientId, { redirect_uri: redirectUri });
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
  });

  it("refuse a document whose client_name holds invisible formatting characters, as registration does (s24 review R4)", async () => {
    const clientId = await serveDocument({ client_name: "Cl\u200Baude\u202E" });
    const { response, html } = await authorize(clientId);
    expect(response.status).toBe(400);
    expect(html).toContain("client_name may not contain control or invisible formatting characters");
    expect(html).not.toContain("Allow ");
  });

  it("refuse a redirect URI of a document that registration would refuse: a browser's scheme, an address into /ops (s29 F1)", async () => {
    for (const uri of ["microsoft-edge:https://phish.example/cb", "googlechrome://phish.example/cb", `${PUBLIC_URL}/ops/pins`]) {
      const clientId = await serveDocument({ redirect_uris: [CLIENT_REDIRECT, uri] });
      const { response, html } = await authorize(clientId, { redirect_uri: uri });
      expect(response.status, uri).toBe(400);
      expect(response.headers.get("location"), uri).toBeNull();
      expect(html, uri).toContain("is not one this proxy sends a sign-in to");
      expect(html, uri).not.toContain("phish.example");
      expect(html, uri).not.toContain('name="handle"');
    }
    // The same document's loopback callback still signs in.
    const clientId = await serveDocument({ redirect_uris: [CLIENT_REDIRECT, "microsoft-edge:https://phish.example/cb"] });
    expect((await authorize(clientId)).response.status).toBe(200);
  });

  it("refuse a document whose client_id is not its own URL", async () => {
    const clientId = await serveDocument({ client_id: `${documentHost()}/documents/someone-else` });
    const { response, html } = await authorize(clientId);
    expect(response.status).toBe(400);
    expect(html).toContain("could not be verified");
    expect(html).toContain(clientId);
    expect(html).toContain("not a valid client metadata document");
    expect(html).toContain("Starting again will not help");
    expect(html).not.toContain("someone-else"); // what the document says is not echoed
  });

  it.each([
    ["a user name and password", (url: string) => url.replace("https://", "https://user:pw@")],
    ["a fragment", (url: string) => `${url}#part`],
  ])(
    "say a client ID with %s is not a valid address, not that its publisher's document is bad (s24 hunt pages F7)",
    async (_case, malformed) => {
      const served = await serveDocument();
      const clientId = malformed(served);
      const { response, html } = await authorize(clientId);
      expect(response.status).toBe(400);
      expect(html).toContain("client ID is not a valid address");
      expect(html).toContain("nothing was fetched");
      expect(html).toContain("the app&#39;s publisher must fix its client ID");
      expect(html).not.toContain("not a valid client metadata document");
      expect(html).not.toContain("does not serve a valid document");
      expect(await fetchesOf(served)).toBe(0);
    },
  );

  // s22 clients hunt F3: the page said only "could not be fetched. Start again from your MCP client", which cannot help
  // when the edge itself cannot reach the document (no egress): Claude Code then fails the same way every time.
  it("name the URL and why it could not be fetched, and who can act, when its host cannot be reached", async () => {
    const clientId = `https://localhost:1/documents/${crypto.randomUUID()}`;
    const { response, html } = await authorize(clientId);
    expect(response.status).toBe(400);
    expect(html).toContain("could not be verified");
    expect(html).toContain(clientId);
    expect(html).toMatch(/could not be reached|could not be resolved|TLS/);
    expect(html).toContain("Starting again will not help");
    expect(html).toContain("whoever runs this MCP proxy");
    expect(html).not.toContain("Start again from your MCP client");
  });

  it("name the HTTP status its host answered: a 404 is not worth retrying", async () => {
    const clientId = `${documentHost()}/documents/${crypto.randomUUID()}`; // never served: the host answers 404
    const { response, html } = await authorize(clientId);
    expect(response.status).toBe(400);
    expect(html).toContain(clientId);
    expect(html).toContain("HTTP status 404");
    expect(html).toContain("Starting again will not help");
    expect(html).toContain("does not serve a valid document");
  });

  it("refuse a document larger than 5 KB", async () => {
    const clientId = await serveDocument({ client_uri: `https://example.com/${"x".repeat(6000)}` });
    const { response } = await authorize(clientId);
    expect(response.status).toBe(400);
    expect(await fetchesOf(clientId)).toBe(1);
  });

  it("refuse a document that takes longer than 10 seconds", { timeout: 20_000 }, async () => {
    const clientId = await serveDocument({}, { delayMs: 11_000 });
    const { response, html } = await authorize(clientId);
    expect(response.status).toBe(400);
    expect(html).toContain("could not be verified");
    expect(html).toContain(clientId);
    expect(html).toContain("did not answer within 10 seconds (timeout)");
    expect(html).toContain("This may pass");
  });

  it("honour the document's Cache-Control: max-age is reused, no-store is fetched again", async () => {
    const cached = await serveDocument({}, { headers: { "cache-control": "public, max-age=300" } });
    const uncached = await serveDocument({}, { headers: { "cache-control": "no-store" } });
    for (const clientId of [cached, uncached, cached, uncached]) expect((await authorize(clientId)).response.status).toBe(200);
    // /authorize resolves the client twice per request (look-up, then request validation).
    expect(await fetchesOf(cached)).toBe(1);
    expect(await fetchesOf(uncached)).toBeGreaterThanOrEqual(4);
  });
});

describe("the CIMD address rule (no SSRF)", () => {
  const loopbackLiteral = () => `https://127.0.0.1:${inject("cimdPort")}/documents/${crypto.randomUUID()}`;

  /** A token request whose form (and headers) name a served document at a loopback literal; it counts its fetches. */
  async function tokenRequestNaming(
    naming: (clientId: string) => { body: string | URLSearchParams; authorization?: string },
    env: Record<string, string> = ALLOW_LOCALHOST,
  ) {
    const clientId = loopbackLiteral();
    await serveText(clientId, JSON.stringify({ client_id: clientId, client_name: "Local", redirect_uris: [CLIENT_REDIRECT] }));
    const { body, authorization } = naming(clientId);
    const headers = { "content-type": "application/x-www-form-urlencoded", ...(authorization ? { authorization } : {}) };
    return { clientId, token: await callEdge("/oauth/token", { method: "POST", headers, body }, env) };
  }

  it.each([
    ["a private IPv4 literal", "https://10.0.0.1/client.json"],
    ["a link-local address (cloud metadata)", "https://169.254.169.254/latest/meta-data"],
    ["IPv6 loopback", "https://[::1]/client.json"],
    ["a unique-local IPv6 address", "https://[fd00::1]/client.json"],
    ["an IPv4-mapped private address", "https://[::ffff:192.168.1.1]/client.json"],
    ["an IPv4-compatible loopback address", "https://[::7f00:1]/client.json"],
    ["an IPv4-compatible address written as IPv4", "https://[::127.0.0.1]/client.json"],
    ["a single-label intranet name", "https://intranet/client.json"],
    ["plain http", "http://example.com/client.json"],
  ])("refuses %s at /authorize with a page of its own", async (_case, clientId) => {
    const { response, html } = await authorize(clientId);
    expect(response.status).toBe(400);
    expect(response.headers.get("location")).toBeNull();
    expect(html).toContain("cannot be signed in");
    // Starting again cannot help: the address is refused each time (s24 hunt pages F7).
    expect(html).toContain("this proxy never fetches a client ID at such an address");
    expect(html).not.toContain("Start again from your MCP client");
  });

  it("refuses a loopback IP literal without fetching it, and fetches it once the host is allowed", async () => {
    const clientId = loopbackLiteral();
    await serveText(clientId, JSON.stringify({ client_id: clientId, client_name: "Local", redirect_uris: [CLIENT_REDIRECT] }));
    expect((await authorize(clientId)).response.status).toBe(400);
    expect(await fetchesOf(clientId)).toBe(0);
    expect((await authorize(clientId, {}, { CIMD_ALLOWED_HOSTS: "127.0.0.1" })).response.status).toBe(200);
    expect(await fetchesOf(clientId)).toBeGreaterThan(0);
  });

  it("refuses localhost unless oauth.cimdAllowedHosts names it", async () => {
    const clientId = await serveDocument();
    expect((await authorize(clientId, {}, { CIMD_ALLOWED_HOSTS: "cimd.example" })).response.status).toBe(400);
    expect(await fetchesOf(clientId)).toBe(0);
  });

  it.each([
    ["client_id", (id: string) => ({ body: { client_id: id } })],
    ["Basic credentials", (id: string) => ({ body: {}, authorization: `Basic ${btoa(`${encodeURIComponent(id)}:x`)}` })],
    ["a client assertion's issuer", (id: string) => ({ body: { client_assertion: unsignedAssertion(id) } })],
  ])("refuses a private address named by %s at the token endpoint without fetching it", async (place, naming) => {
    const { clientId, token } = await tokenRequestNaming((id) => {
      const { body, authorization } = naming(id) as { body: Record<string, string>; authorization?: string };
      const form = { grant_type: "authorization_code", code: "x", code_verifier: "v".repeat(43), ...body };
      return { body: new URLSearchParams(form), authorization };
    });
    expect(token.status).toBe(401);
    expect(((await token.json()) as { error: string }).error).toBe("invalid_client");
    // RFC 6749 §5.2: a client that authenticated with Basic credentials gets a Basic challenge; the others none.
    const basic = place === "Basic credentials";
    expect(token.headers.get("www-authenticate")).toBe(basic ? 'Basic realm="OAuth"' : null);
    expect(await fetchesOf(clientId)).toBe(0);
  });

  it.each([
    ["in standard base64 (+ and /), which the library decodes and jose does not", (id: string) => lenientAssertion(id, "base64")],
    ["with a byte that is not UTF-8 in another claim", (id: string) => lenientAssertion(id, "bad-utf8")],
  ])("refuses a client assertion %s, whose issuer the rule could not read, without fetching", async (_case, assertion) => {
    const form = (clientId: string) => ({
      grant_type: "refresh_token",
      refresh_token: "a:b:c",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: assertion(clientId),
    });
    const { clientId, token } = await tokenRequestNaming((id) => ({ body: new URLSearchParams(form(id)) }), {
      CIMD_ALLOWED_HOSTS: "cimd.example",
    });
    expect(token.status).toBe(401);
    const answer = (await token.json()) as { error: string; error_description: string };
    expect(answer.error).toBe("invalid_client");
    expect(answer.error_description).toContain("the client_assertion (not a JWT: base64url parts, JSON claims) cannot be read");
    expect(await fetchesOf(clientId)).toBe(0);
  });

  it("refuses Basic credentials it cannot read rather than letting them by unchecked", async () => {
    const token = await callEdge(
      "/oauth/token",
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: "Basic not*base64" },
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "a:b:c" }),
      },
      ALLOW_LOCALHOST,
    );
    expect(token.status).toBe(401);
    expect(token.headers.get("www-authenticate")).toBe('Basic realm="OAuth"');
    expect(((await token.json()) as { error_description: string }).error_description).toContain(
      "the Basic credentials cannot be read",
    );
  });

  it.each([
    ["client_id", (id: string) => `client_id=&client_id=${encodeURIComponent(id)}`],
    ["client_assertion", (id: string) => `client_assertion=&client_assertion=${unsignedAssertion(id)}`],
  ])("refuses a repeated %s (an empty first value hid the second from the rule) without fetching", async (_case, naming) => {
    const { clientId, token } = await tokenRequestNaming((id) => ({
      body: `grant_type=refresh_token&refresh_token=a%3Ab%3Ac&${naming(id)}`,
    }));
    expect(token.status).toBe(400);
    const answer = (await token.json()) as { error: string; error_description: string };
    expect(answer.error).toBe("invalid_request");
    expect(answer.error_description).toContain("is sent more than once");
    expect(await fetchesOf(clientId)).toBe(0);
  });
});

/**
 * A JWT naming `issuer` that jose's strict decoding refuses and the library's lenient one reads: its claims in standard
 * base64 (with "/" from the padding claim), or in base64url with a byte that is not UTF-8 in another claim.
 */
function lenientAssertion(issuer: string, how: "base64" | "bad-utf8"): string {
  const header = btoa(JSON.stringify({ alg: "ES256" })).replace(/=+$/, "");
  const claims = JSON.stringify({ iss: issuer, sub: issuer, aud: PUBLIC_URL, pad: how === "base64" ? "???" : "x" });
  const bytes = new TextEncoder().encode(claims);
  if (how === "bad-utf8") bytes[bytes.length - 3] = 0xff; // the padding claim's one character
  const encoded = btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
  const payload = how === "base64" ? encoded : encoded.replaceAll("+", "-").replaceAll("/", "_");
  if (how === "base64") expect(payload).toMatch(/[+/]/);
  return `${header}.${payload}.c2ln`;
}

/** A JWT naming `issuer`, unsigned: the rule must refuse it before anything verifies or fetches. */
function unsignedAssertion(issuer: string): string {
  const part = (value: object) => btoa(JSON.stringify(value)).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
  return `${part({ alg: "ES256" })}.${part({ iss: issuer, sub: issuer, aud: PUBLIC_URL })}.c2ln`;
}
