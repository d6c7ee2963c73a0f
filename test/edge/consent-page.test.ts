import { describe, expect, it } from "vitest";
import { GRANTABLE_SCOPES } from "../../worker/auth/grantable-scopes.ts";
import { SCOPE_DESCRIPTIONS } from "../../worker/auth/scope-descriptions.ts";
import { callEdge, PUBLIC_URL } from "./edge-env.ts";
import { pkcePair } from "./pkce.ts";
import { authorizeUrl } from "./sign-in.ts";

async function register(clientName: string, redirectUri: string): Promise<string> {
  const response = await callEdge("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: clientName, redirect_uris: [redirectUri], token_endpoint_auth_method: "none" }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

async function consentHtml(
  client: { name: string; redirectUri: string },
  params: Record<string, string> = {},
  env?: Record<string, string>,
): Promise<string> {
  const clientId = await register(client.name, client.redirectUri);
  const url = authorizeUrl(clientId, (await pkcePair()).challenge, { redirect_uri: client.redirectUri, ...params });
  const page = await callEdge(url, undefined, env);
  expect(page.status).toBe(200);
  return page.text();
}

const LOCAL_APP = { name: "Acme Agent", redirectUri: "http://127.0.0.1:33418/callback" };
/** The text a person reads: tags dropped, entities of quotes decoded. */
const readable = (html: string) =>
  html
    .replace(/<[^>]+>/g, "")
    .replaceAll("&#39;", "'")
    .replaceAll("&#34;", '"');

describe("the consent page", () => {
  it("names the company from displayName; without it, the host name above the page and no company in the sentences (s24 hunt pages F7)", async () => {
    expect(readable(await consentHtml(LOCAL_APP, {}, { EDGE_DISPLAY_NAME: "Example Corp" }))).toContain(
      "Allow Acme Agent to use Example Corp's MCP servers as you?",
    );
    // Without a display name the host name is only the banner: the account is the company's, not localhost's.
    const unnamed = await consentHtml(LOCAL_APP);
    expect(unnamed).toContain("<header>localhost</header>");
    const byHost = readable(unnamed);
    expect(byHost).toContain("Allow Acme Agent to use this proxy's MCP servers as you?");
    expect(byHost).toContain("Every server this proxy's policy lets you use");
    expect(byHost).toContain("You will sign in with your company account next.");
  });

  it("names no configured server for the umbrella resource (shown before sign-in, to anyone), and the one for a server's own", async () => {
    const umbrella = await consentHtml(LOCAL_APP, {}, { EDGE_DISPLAY_NAME: "Example Corp" });
    expect(readable(umbrella)).toContain("Every server Example Corp's policy lets you use");
    expect(umbrella).not.toMatch(/everything|filesystem/);
    const one = readable(await consentHtml(LOCAL_APP, { resource: `${PUBLIC_URL}/mcp/filesystem` }));
    expect(one).toContain("Only filesystem");
    expect(one).not.toContain("everything");
  });

  it("says in words what each granted scope allows, never a bare scope name", async () => {
    const html = await consentHtml(LOCAL_APP, { scope: "mcp offline_access" });
    expect(readable(html)).toContain(SCOPE_DESCRIPTIONS.mcp);
    expect(readable(html)).toContain(SCOPE_DESCRIPTIONS.offline_access);
    expect(html).not.toContain("<code>");
  });

  it("has a sentence for every scope the edge grants", () => {
    for (const scope of GRANTABLE_SCOPES) expect(SCOPE_DESCRIPTIONS[scope], scope).toBeTruthy();
  });

  it("shows a client proven by its vendor callback under the table's name", async () => {
    const html = readable(await consentHtml({ name: "Claude", redirectUri: "https://claude.ai/api/mcp/auth_callback" }));
    expect(html).toContain("Allow Claude (claude.ai and Claude Desktop) to use");
    expect(html).toContain("Recognised: it receives access at claude.ai.");
    expect(html).not.toContain("Unverified");
  });

  it("marks a known name with a foreign redirect host unverified, and shows that host (phishing)", async () => {
    const html = readable(await consentHtml({ name: "Claude", redirectUri: "https://attacker.example/callback" }));
    expect(html).toContain("Unverified: the app chose this name itself. It resembles Claude (claude.ai and Claude Desktop)");
    expect(html).toContain("Access goes toattacker.example");
  });

  it("names an app on this computer without an alarm, and warns that access goes to this computer", async () => {
    const raw = await consentHtml(LOCAL_APP);
    expect(raw).not.toContain('class="note unverified"');
    const html = readable(raw);
    expect(html).toContain("Its name is its own: an app on this computer cannot prove it.");
    expect(html).toContain("Access will be sent to an app on this computer.");
  });

  it("is served with a policy that runs only its own script, under a nonce new each time, and no resource from elsewhere", async () => {
    const clientId = await register(LOCAL_APP.name, LOCAL_APP.redirectUri);
    const nonces = [];
    for (const _ of [1, 2]) {
      const page = await callEdge(authorizeUrl(clientId, (await pkcePair()).challenge));
      const policy = page.headers.get("content-security-policy") ?? "";
      expect(policy).toContain("default-src 'none'");
      expect(policy).not.toMatch(/https?:|unsafe-inline'[^;]*script|script-src[^;]*unsafe/);
      const nonce = /script-src 'nonce-([A-Za-z0-9_-]{32})'$/.exec(policy)?.[1];
      expect(nonce).toBeTruthy();
      const html = await page.text();
      expect(html.match(/<script/g)).toHaveLength(1);
      expect(html).toContain(`<script nonce="${nonce}">`);
      expect(html).not.toMatch(/<link|src=/);
      nonces.push(nonce);
    }
    expect(nonces[0]).not.toBe(nonces[1]);
  });
});

describe("the consent form's POST", () => {
  it("answers a body that is not the form (JSON, text, a multipart body without its boundary) 400 with a page that says so", async () => {
    for (const contentType of ["application/json", "text/plain", "multipart/form-data", ""]) {
      const answer = await callEdge("/authorize", {
        method: "POST",
        headers: contentType ? { "content-type": contentType } : {},
        body: JSON.stringify({ handle: "h", decision: "approve" }),
      });
      expect(answer.status, contentType).toBe(400);
      expect(readable(await answer.text()), contentType).toContain("The consent form could not be read");
    }
  });
});
