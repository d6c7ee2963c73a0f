import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import { createEnvSecretsProvider } from "../../aws/origin/secrets/env/env-secrets.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ClientRegistrations } from "../../aws/origin/upstream-auth/client-registration.ts";
import { AuthorizationDiscovery } from "../../aws/origin/upstream-auth/discovery.ts";
import { PendingAuthorizations } from "../../aws/origin/upstream-auth/pending-authorizations.ts";
import { UpstreamOAuth } from "../../aws/origin/upstream-auth/upstream-oauth.ts";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { type HttpServer, UpstreamServer } from "../../contract/config/schema.ts";
import { type OAuthUpstream, startOAuthUpstream } from "../fixtures/oauth-upstream/start.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";
import { originUnderTest } from "./origin-under-test.ts";

// An OAuth-protected upstream with a static confidential client, whose authorization server refuses the code exchange
// with the request echoed in its error_description (as careless servers do): the code, the PKCE verifier and the
// client secret. What the origin logs of it through POST /upstream-oauth/complete.

const CLIENT_SECRET = "static-client-secret-9d8c7b6a";
const redirectUriOf = (server: string) => `https://edge.test/upstream-oauth/callback/${server}`;
let db: TestDatabase;
let upstream: OAuthUpstream;
let pool: HostPool;
let parts: ConstructorParameters<typeof UpstreamOAuth>[0];
let oauth: UpstreamOAuth;
let files: UpstreamServer;
const logged: string[] = [];
/** What the authorization server was sent to redeem codes. */
const exchanges: URLSearchParams[] = [];
const keys = localKeyWrapper(randomBytes(32));
const secrets = createEnvSecretsProvider({ FILES_CLIENT_SECRET: CLIENT_SECRET });

beforeAll(async () => {
  db = await withTestDatabase();
  await migrate(db.pool);
  upstream = await startOAuthUpstream();
  const as = upstream.authorizationServer;
  const metadata = as.metadata.bind(as);
  as.metadata = () => ({ ...metadata(), token_endpoint_auth_methods_supported: ["client_secret_post"] });
  as.token = (form: URLSearchParams) => {
    exchanges.push(form);
    const echoed = `could not redeem this request: ${form.toString()} ${JSON.stringify(Object.fromEntries(form))}`;
    return [400, { error: "invalid_grant", error_description: echoed }] as never;
  };
  parts = {
    vault: new TokenVault(db.pool, keys),
    pending: new PendingAuthorizations(db.pool, keys),
    discovery: new AuthorizationDiscovery(),
    clients: new ClientRegistrations(
      {
        redirectUriOf,
        clientMetadataUrlOf: (server) => `https://edge.test/upstream-oauth/client-metadata/${server}.json`,
        clientName: "Test",
      },
      secrets,
    ),
    log: (line) => logged.push(line),
  };
  oauth = new UpstreamOAuth(parts);
  // A confidential client: the fixture reads the method, its type names only the redirect URIs.
  const confidential = { redirect_uris: [redirectUriOf("files")], token_endpoint_auth_method: "client_secret_post" };
  const [, registered] = as.register(confidential) as [number, { client_id: string }];
  files = UpstreamServer.parse({
    transport: "http",
    url: upstream.url,
    identity: "none",
    oauth: { registration: "static", clientId: registered.client_id, clientSecret: { secret: "FILES_CLIENT_SECRET" } },
  });
  pool = createHostPool({
    servers: { files },
    idleTimeoutMs: 60_000,
    maxProcesses: 8,
    host: { ...testHostOptions, secrets, upstreamOAuth: oauth },
    log: (line) => logged.push(line),
  });
}, 60_000);

afterAll(async () => {
  await pool?.close();
  await upstream?.close();
  await db?.close();
});

/** POSTs a browser's return to the origin's route, completed by `by`; what the route logged. */
async function complete(back: URL, by: UpstreamOAuth): Promise<string> {
  const origin = await originUnderTest({ parts: { upstreamOAuth: by } });
  const warned: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void warned.push(args.map(String).join(" "));
  try {
    const response = await origin.call(
      "/upstream-oauth/complete",
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...Object.fromEntries(back.searchParams), server: "files" }),
      },
      { sub: "alice", email: "alice@example.com", client_id: "c", purpose: "upstream-oauth" },
    );
    expect(response.status).toBe(502);
  } finally {
    console.warn = original;
  }
  return warned.find((text) => text.startsWith("upstream OAuth: completing an authorization failed")) ?? "";
}

/** The consent link a call asks the user to open, followed to the authorization server's redirect back. */
async function consentReturn(): Promise<URL> {
  const assertion = {
    sub: "alice",
    email: "alice@example.com",
    client_id: "c",
    server: "files",
    purpose: "mcp",
    jti: "j",
    exp: 0,
  };
  const request = modernRequest("tools/call", { name: "whoami", arguments: {} }, { capabilities: { elicitation: { url: {} } } });
  type Answer = { result?: { inputRequests?: Record<string, { params: { url: string } }> }; error?: { data?: { url?: string } } };
  const answer = (await messagesOf(await serveMcp(pool, "files", assertion as VerifiedAssertion, request))) as Answer[];
  const last = answer.at(-1);
  const link = Object.values(last?.result?.inputRequests ?? {})[0]?.params.url ?? last?.error?.data?.url ?? "";
  expect(link).toContain("/authorize");
  return new URL((await fetch(link, { redirect: "manual" })).headers.get("location") ?? "");
}

describe("a refused code exchange", () => {
  it("is logged with the OAuth error code, without the code, the verifier or the client secret it echoed", async () => {
    const line = await complete(await consentReturn(), oauth);
    const sent = exchanges.at(-1);
    const [code, verifier] = [sent?.get("code") ?? "", sent?.get("code_verifier") ?? ""];
    expect(code.length).toBeGreaterThan(8);
    expect(verifier.length).toBeGreaterThan(8);
    expect(sent?.get("client_secret")).toBe(CLIENT_SECRET);
    expect(line).toMatch(/failed: exchanging the code at \S+ for server "files" failed: invalid_grant: could not redeem/);
    for (const secret of [code, verifier, CLIENT_SECRET, encodeURIComponent(verifier)]) {
      expect(line).not.toContain(secret);
      expect(logged.join("\n")).not.toContain(secret);
    }
  });

  it("is logged redacted when a step before the exchange fails with the request echoed", async () => {
    const failing = new (class extends AuthorizationDiscovery {
      override async metadataOf(): Promise<never> {
        throw new Error(`metadata refused: code=abc123456789&code_verifier=verifier0123456789&client_secret=${CLIENT_SECRET}`);
      }
    })();
    const line = await complete(await consentReturn(), new UpstreamOAuth({ ...parts, discovery: failing }));
    expect(line).toContain("failed: metadata refused: code=[REDACTED]&code_verifier=[REDACTED]&client_secret=");
    for (const secret of ["abc123456789", "verifier0123456789", CLIENT_SECRET]) expect(line).not.toContain(secret);
  });
});

describe("a consent that cannot begin", () => {
  it("is logged without a client secret or token the authorization server's answer echoed", async () => {
    const failing = new (class extends AuthorizationDiscovery {
      override async target(): Promise<never> {
        throw new Error(`refused: client_id=abc&code_verifier=verifier0123456789&client_secret=${CLIENT_SECRET}`);
      }
    })();
    const instance = new UpstreamOAuth({ ...parts, discovery: failing });
    const owner = { sub: "gina", email: "gina@example.com", server: "files" };
    await expect(instance.begin(owner, files as HttpServer)).rejects.toThrow(/cannot be connected to just now/);
    const line = logged.find((text) => text.includes("could not begin")) ?? "";
    expect(line).toContain(
      'a consent for server "files" could not begin: refused: client_id=abc&code_verifier=[REDACTED]&client_secret=',
    );
    expect(line).not.toContain(CLIENT_SECRET);
    expect(line).not.toContain("verifier0123456789");
  });
});
