import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import type { SecretsProvider } from "../../aws/origin/secrets/provider.ts";
import { ClientRegistrations } from "../../aws/origin/upstream-auth/client-registration.ts";
import { AuthorizationDiscovery } from "../../aws/origin/upstream-auth/discovery.ts";
import { PendingAuthorizations } from "../../aws/origin/upstream-auth/pending-authorizations.ts";
import { UpstreamOAuth } from "../../aws/origin/upstream-auth/upstream-oauth.ts";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { type HttpServer, UpstreamServer } from "../../contract/config/schema.ts";
import type { UpstreamOAuthReturn } from "../../contract/upstream-oauth.ts";
import { type OAuthUpstream, startOAuthUpstream } from "../fixtures/oauth-upstream/start.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

// A static (hand-registered) confidential client's secret is rotated at the upstream's authorization server, and the
// old one revoked: the users' stored connections renew with the current secret instead of the copy taken at their
// consent, so nobody is sent through consent again.
const SECRET_NAME = "TICKETS_OAUTH_CLIENT_SECRET";
const redirectUriOf = (server: string) => `https://edge.test/upstream-oauth/callback/${server}`;
let db: TestDatabase;
let upstream: OAuthUpstream;
let spec: HttpServer;
let oauth: UpstreamOAuth;
const logged: string[] = [];

/** Secrets Manager as the origin sees it: a value per name, cached until invalidated; `reads` counts backend reads. */
const secrets = {
  stored: new Map<string, string>(),
  cached: new Map<string, string>(),
  reads: 0,
};
const provider: SecretsProvider = {
  async get(name) {
    const cached = secrets.cached.get(name);
    if (cached !== undefined) return cached;
    secrets.reads++;
    const value = secrets.stored.get(name);
    if (value === undefined) throw new Error(`secret "${name}" is not set`);
    secrets.cached.set(name, value);
    return value;
  },
  invalidate: (name) => secrets.cached.delete(name),
};

/** Rotates the client's secret at the authorization server (the old one refused from now on) and in the store. */
function rotate(secret: string, { storeToo }: { storeToo: boolean }) {
  upstream.authorizationServer.rotateSecret("gateway", secret);
  if (storeToo) secrets.stored.set(SECRET_NAME, secret);
}

const ownerOf = (sub: string) => ({ sub, email: `${sub}@example.com`, server: "tickets" });
const accountOf = (token: string | undefined) => upstream.authorizationServer.check(token ?? "")?.account;

/** The user consents once (the authorization server consents at once): their upstream account. */
async function connect(sub: string): Promise<string | undefined> {
  const link = await oauth.begin(ownerOf(sub), spec);
  const back = new URL((await fetch(link, { redirect: "manual" })).headers.get("location") ?? "");
  const returned = { ...Object.fromEntries(back.searchParams), server: "tickets" } as UpstreamOAuthReturn & { code: string };
  await oauth.complete(returned, { sub });
  return accountOf(await oauth.accessToken(ownerOf(sub), spec));
}

/** A renewal as after the upstream refused the user's current token. */
async function renew(sub: string): Promise<string | undefined> {
  const current = await new TokenVault(db.pool, keys).get(ownerOf(sub));
  return oauth.refresh(ownerOf(sub), current?.accessToken ?? "", spec);
}

const keys = localKeyWrapper(randomBytes(32));

beforeAll(async () => {
  db = await withTestDatabase();
  await migrate(db.pool);
  upstream = await startOAuthUpstream();
  upstream.authorizationServer.addClient("gateway", [redirectUriOf("tickets")], "secret-1");
  secrets.stored.set(SECRET_NAME, "secret-1");
  spec = UpstreamServer.parse({
    transport: "http",
    url: upstream.url,
    identity: "none",
    oauth: { registration: "static", clientId: "gateway", clientSecret: { secret: SECRET_NAME } },
  }) as HttpServer;
  oauth = new UpstreamOAuth({
    vault: new TokenVault(db.pool, keys),
    pending: new PendingAuthorizations(db.pool, keys),
    discovery: new AuthorizationDiscovery(),
    clients: new ClientRegistrations(
      { redirectUriOf, clientMetadataUrlOf: () => "unused", clientName: "Test gateway" },
      provider,
    ),
    log: (line) => logged.push(line),
  });
});
afterAll(async () => {
  await upstream?.close();
  await db?.close();
});

describe("a static client's secret rotated at its authorization server", () => {
  it("renews every stored connection with the current secret, not the copy taken at consent: no one consents again", async () => {
    const account = await connect("nia");
    expect(account).toMatch(/^account-\d+$/);
    rotate("secret-2", { storeToo: true });
    secrets.cached.clear(); // this instance read the new value (its cache lapsed)
    expect(accountOf(await renew("nia"))).toBe(account);
    // And again: the renewed connection carries on with the current secret.
    expect(accountOf(await renew("nia"))).toBe(account);
  });

  it("reads the secret again once when its cached copy is refused, and goes on with the rotated one", async () => {
    const account = await connect("omar");
    rotate("secret-3", { storeToo: true }); // this instance still holds secret-2 in its cache
    const reads = secrets.reads;
    expect(accountOf(await renew("omar"))).toBe(account);
    expect(secrets.reads).toBe(reads + 1);
  });

  it("ends the connection when the secret just read is refused too (the store was not updated), naming no secret", async () => {
    await connect("pam");
    rotate("secret-4", { storeToo: false });
    const reads = secrets.reads;
    expect(await renew("pam")).toBeUndefined();
    expect(secrets.reads).toBe(reads + 1); // one fresh read, no loop
    expect(await oauth.accessToken(ownerOf("pam"), spec)).toBeUndefined();
    expect(logged.join("\n")).toContain("invalid_client");
    expect(logged.join("\n")).not.toMatch(/secret-\d/);
  });
});
