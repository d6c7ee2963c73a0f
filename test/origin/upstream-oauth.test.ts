import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import { secretsProviderFor } from "../../aws/origin/secrets/select.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ClientRegistrations, REGISTRATION_MAX_AGE_MS } from "../../aws/origin/upstream-auth/client-registration.ts";
import { CONSENT_INPUT_KEY, CONSENT_NEEDED_CODE } from "../../aws/origin/upstream-auth/consent.ts";
import { AuthorizationDiscovery, requireHttpsIssuer } from "../../aws/origin/upstream-auth/discovery.ts";
import { PendingAuthorizations } from "../../aws/origin/upstream-auth/pending-authorizations.ts";
import { UpstreamOAuth } from "../../aws/origin/upstream-auth/upstream-oauth.ts";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { type RefreshMark, TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { type HttpServer, UpstreamServer } from "../../contract/config/schema.ts";
import type { UpstreamOAuthReturn } from "../../contract/upstream-oauth.ts";
import { type OAuthUpstream, startOAuthUpstream } from "../fixtures/oauth-upstream/start.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// The origin as each user's OAuth client toward an OAuth-protected upstream (a real SDK v2 server behind its own
// authorization server on loopback): consent asked as a URL elicitation, completed from the callback, tokens in the
// encrypted vault, refreshed unnoticed, a revoked token re-consented by its user only.
const redirectUriOf = (server: string) => `https://edge.test/upstream-oauth/callback/${server}`;
const REDIRECT_URI = redirectUriOf("files");
let db: TestDatabase;
let upstream: OAuthUpstream;
let pool: HostPool;
let oauth: UpstreamOAuth;
/** The upstream's server as configured: a dynamic registration. */
let files: HttpServer;
const logged: string[] = [];
const keys = localKeyWrapper(randomBytes(32));

/** One origin instance's registrations, on its own clock. */
const clientRegistrations = (now?: () => number) =>
  new ClientRegistrations(
    {
      redirectUriOf,
      clientMetadataUrlOf: (server) => `https://edge.test/upstream-oauth/client-metadata/${server}.json`,
      clientName: "Test gateway",
    },
    testHostOptions.secrets,
    now,
  );

/** The OAuth client of one origin instance; every instance shares the database and its vault key. */
const originInstance = (discovery = new AuthorizationDiscovery(), clients = clientRegistrations()) =>
  new UpstreamOAuth({
    vault: new TokenVault(db.pool, keys),
    pending: new PendingAuthorizations(db.pool, keys),
    discovery,
    clients,
    log: (line) => logged.push(line),
  });

beforeAll(async () => {
  db = await withTestDatabase();
  await migrate(db.pool);
  upstream = await startOAuthUpstream();
  oauth = originInstance();
  files = UpstreamServer.parse({
    transport: "http",
    url: upstream.url,
    identity: "none",
    oauth: { registration: "dcr" },
  }) as HttpServer;
  pool = createHostPool({
    servers: { files },
    idleTimeoutMs: 60_000,
    maxProcesses: 8,
    host: { ...testHostOptions, upstreamOAuth: oauth },
    log: (line) => logged.push(line),
  });
});
afterAll(async () => {
  await pool?.close();
  await upstream?.close();
  await db?.close();
});

const URL_ELICITING = { elicitation: { form: {}, url: {} } };
const assertionOf = (sub: string) =>
  ({ sub, email: `${sub}@example.com`, client_id: "c", server: "files", purpose: "mcp", jti: "j", exp: 0 }) as VerifiedAssertion;
type Answer = {
  result?: {
    resultType?: string;
    inputRequests?: Record<string, { method: string; params: { mode: string; url: string; message: string } }>;
    requestState?: string;
    content?: { text: string }[];
  };
  error?: { code: number; message: string; data?: { url?: string } };
};
async function whoami(sub: string, extra: Record<string, unknown> = {}, capabilities: Record<string, unknown> = URL_ELICITING) {
  const request = modernRequest("tools/call", { name: "whoami", arguments: {}, ...extra }, { capabilities });
  const response = await serveMcp(pool, "files", assertionOf(sub), request);
  return ((await messagesOf(response)) as Answer[]).find((message) => message.result || message.error) as Answer;
}

/** What the edge hands over of a browser's return to a callback: the query, and the server its path names. */
const returnedTo = (back: URL) =>
  ({ ...Object.fromEntries(back.searchParams), server: back.pathname.split("/").at(-1) }) as UpstreamOAuthReturn & {
    code: string;
  };

/** Plays the user's browser (signed in at the edge as `sub`): the upstream's AS consents at once and sends it back. */
async function consentAt(link: string, sub: string) {
  const answer = await fetch(link, { redirect: "manual" });
  const back = new URL(answer.headers.get("location") ?? "");
  expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
  return oauth.complete(returnedTo(back), { sub });
}

/** First use through the consent: the call answers with the question, the link is followed, the retry runs. */
async function connect(sub: string): Promise<string> {
  const first = await whoami(sub);
  const ask = first.result?.inputRequests?.[CONSENT_INPUT_KEY];
  expect(ask?.method).toBe("elicitation/create");
  expect(ask?.params.mode).toBe("url");
  expect(await consentAt(ask?.params.url ?? "", sub)).toEqual({ ok: true, server: "files", email: `${sub}@example.com` });
  const retried = await whoami(sub, {
    inputResponses: { [CONSENT_INPUT_KEY]: { action: "accept" } },
    requestState: first.result?.requestState,
  });
  return retried.result?.content?.[0]?.text ?? JSON.stringify(retried);
}

let alice = "";
describe("OAuth-protected upstreams", () => {
  it("asks for consent on first use with a URL elicitation (PKCE S256, resource), then the call runs as the user", async () => {
    const first = await whoami("alice");
    const link = new URL(first.result?.inputRequests?.[CONSENT_INPUT_KEY]?.params.url ?? "");
    expect(link.origin + link.pathname).toBe(upstream.url.replace("/mcp", "/authorize"));
    expect(link.searchParams.get("code_challenge_method")).toBe("S256");
    expect(link.searchParams.get("resource")).toBe(upstream.url);
    expect(link.searchParams.get("redirect_uri")).toBe(REDIRECT_URI);
    alice = await connect("alice");
    expect(alice).toMatch(/^account-\d+$/);
    // Consented once: later calls just run.
    expect((await whoami("alice")).result?.content?.[0]?.text).toBe(alice);
  });

  it("gives a client without URL elicitation a clear error with the link, and never calls the tool", async () => {
    const refused = await whoami("carol", {}, { elicitation: { form: {} } });
    expect(refused.error?.code).toBe(CONSENT_NEEDED_CODE);
    expect(refused.error?.message).toMatch(
      /server "files" needs you to connect your account first: open http:\/\/127\.0\.0\.1:\d+\/authorize\?/,
    );
    expect(refused.error?.data?.url).toContain("/authorize?");
  });

  it("takes each state once, for its own user only: a replayed callback or another user's browser is refused", async () => {
    const first = await whoami("dave");
    const link = first.result?.inputRequests?.[CONSENT_INPUT_KEY]?.params.url ?? "";
    const back = new URL((await fetch(link, { redirect: "manual" })).headers.get("location") ?? "");
    const query = returnedTo(back);
    expect((await oauth.complete(query, { sub: "dave" })).ok).toBe(true);
    expect(await oauth.complete(query, { sub: "dave" })).toEqual({
      ok: false,
      message: expect.stringContaining("used already or expired"),
    });
    expect(await oauth.complete({ server: "files", state: "forged", code: "x" }, { sub: "dave" })).toMatchObject({ ok: false });
    const link2 = (await whoami("frank")).result?.inputRequests?.[CONSENT_INPUT_KEY]?.params.url ?? "";
    expect(await consentAt(link2, "mallory")).toEqual({ ok: false, message: expect.stringContaining("made for another user") });
  });

  it("sends no code anywhere when a consent comes back to another server's callback (a mix-up), and uses the state up", async () => {
    const link = (await whoami("gina")).result?.inputRequests?.[CONSENT_INPUT_KEY]?.params.url ?? "";
    const back = new URL((await fetch(link, { redirect: "manual" })).headers.get("location") ?? "");
    const misdirected = { ...returnedTo(back), server: "evil" };
    expect(await oauth.complete(misdirected, { sub: "gina" })).toEqual({
      ok: false,
      message: expect.stringContaining('came back for another server than the one it was made for ("files")'),
    });
    expect(logged).toContainEqual(expect.stringMatching(/came back to the callback of "evil"; refused \(possible mix-up\)/));
    expect(await oauth.complete(returnedTo(back), { sub: "gina" })).toMatchObject({
      ok: false,
      message: expect.stringContaining("used already or expired"),
    });
  });

  it("asks a user to consent again when their stored connection does not open with this instance's vault key", async () => {
    await connect("lena");
    const otherKey = new UpstreamOAuth({
      vault: new TokenVault(db.pool, localKeyWrapper(randomBytes(32))),
      pending: new PendingAuthorizations(db.pool, keys),
      discovery: new AuthorizationDiscovery(),
      clients: new ClientRegistrations(
        { redirectUriOf, clientMetadataUrlOf: () => "https://edge.test/m.json", clientName: "T" },
        testHostOptions.secrets,
      ),
      log: (line) => logged.push(line),
    });
    expect(await otherKey.accessToken({ sub: "lena", email: "lena@example.com", server: "files" }, files)).toBeUndefined();
    expect(logged).toContainEqual(expect.stringMatching(/does not open with this vault key .* asked to consent again$/));
  });

  it("ends the call when the user declines to connect, without a new link", async () => {
    const first = await whoami("olga");
    expect(first.result?.inputRequests?.[CONSENT_INPUT_KEY]).toBeDefined();
    const declined = await whoami("olga", {
      inputResponses: { [CONSENT_INPUT_KEY]: { action: "decline" } },
      requestState: first.result?.requestState,
    });
    expect(declined.error, JSON.stringify(declined)).toEqual({
      code: CONSENT_NEEDED_CODE,
      message:
        'you did not connect your account at server "files", so the call was not run; call the tool again to be asked again',
    });
    expect(declined.result).toBeUndefined();
  });

  it("follows a 401's resource_metadata only on the server's own origin (an upstream cannot aim the origin elsewhere)", async () => {
    const hits: string[] = [];
    const elsewhere = createServer((request, response) => {
      hits.push(request.url ?? "");
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
    try {
      const aimed = new URL(`http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/internal/metadata`);
      const spec = UpstreamServer.parse({
        transport: "http",
        url: upstream.url,
        identity: "none",
        oauth: { registration: "dcr" },
      });
      const target = await new AuthorizationDiscovery().target("files", spec as HttpServer, { resourceMetadataUrl: aimed });
      expect(target.resource).toBe(upstream.url);
      expect(hits).toEqual([]);
    } finally {
      elsewhere.close();
    }
  });

  it("tells the user a consent could not begin without the authorization server's words (the log has them)", async () => {
    const failing = new (class extends AuthorizationDiscovery {
      override async target(): Promise<never> {
        throw new Error('unexpected answer from the metadata URL: "ami-id\\nplaceholder-echoed-text"');
      }
    })();
    const spec = UpstreamServer.parse({ transport: "http", url: upstream.url, identity: "none", oauth: { registration: "dcr" } });
    const owner = { sub: "gina", email: "gina@example.com", server: "files" };
    const refused = await originInstance(failing)
      .begin(owner, spec as HttpServer)
      .then(
        () => "begun",
        (error: Error) => error.message,
      );
    expect(refused).toMatch(/server "files" cannot be connected to just now/);
    expect(refused).not.toContain("placeholder-echoed-text");
    expect(logged.join("\n")).toContain("placeholder-echoed-text");
  });

  it("refuses a plain-http authorization server for an https server; a local http server may use one", () => {
    expect(() => requireHttpsIssuer("https://crm.example/mcp", "http://login.crm.example")).toThrow(/is not https/);
    expect(() => requireHttpsIssuer("https://crm.example/mcp", "https://login.crm.example")).not.toThrow();
    expect(() => requireHttpsIssuer("http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080")).not.toThrow();
  });

  it("keeps two users' tokens apart", async () => {
    const bob = await connect("bob");
    expect(bob).toMatch(/^account-\d+$/);
    expect(bob).not.toBe(alice);
    expect((await whoami("alice")).result?.content?.[0]?.text).toBe(alice);
    expect((await whoami("bob")).result?.content?.[0]?.text).toBe(bob);
  });

  it("refreshes short-lived access tokens without asking the user", async () => {
    upstream.authorizationServer.accessTokenSeconds = 5;
    const erin = await connect("erin");
    const refreshed = upstream.authorizationServer.issued.byRefresh;
    // Within a minute of expiry, each use refreshes first (rotating the refresh token).
    expect((await whoami("erin")).result?.content?.[0]?.text).toBe(erin);
    expect((await whoami("erin")).result?.content?.[0]?.text).toBe(erin);
    expect(upstream.authorizationServer.issued.byRefresh).toBe(refreshed + 2);
    upstream.authorizationServer.accessTokenSeconds = 3600;
  });

  it("asks only the user whose token was revoked to consent again; others go on", async () => {
    upstream.authorizationServer.revokeAccount(alice);
    const again = await whoami("alice");
    expect(again.result?.inputRequests?.[CONSENT_INPUT_KEY]?.params.mode).toBe("url");
    expect((await whoami("bob")).result?.content?.[0]?.text).toMatch(/^account-\d+$/);
    const link = again.result?.inputRequests?.[CONSENT_INPUT_KEY]?.params.url ?? "";
    // The client retries at once; the user's browser is still on its way back: the retry waits for it.
    const retrying = whoami("alice", {
      inputResponses: { [CONSENT_INPUT_KEY]: { action: "accept" } },
      requestState: again.result?.requestState,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await consentAt(link, "alice")).ok).toBe(true);
    const retried = await retrying;
    expect(retried.result?.content?.[0]?.text).toMatch(/^account-\d+$/);
    expect(retried.result?.content?.[0]?.text).not.toBe(alice);
  });

  it("stores no token text: the vault's rows are unreadable without the key", async () => {
    const { rows } = await db.pool.query("SELECT * FROM upstream_tokens");
    expect(rows.length).toBeGreaterThanOrEqual(4);
    const dump = JSON.stringify(rows, (_key, value) =>
      value?.type === "Buffer" ? Buffer.from(value.data).toString("latin1") : value,
    );
    const tokens = upstream.bearers.map((header) => header.replace(/^Bearer /, "")).filter(Boolean);
    expect(tokens.length).toBeGreaterThan(0);
    for (const token of tokens) expect(dump).not.toContain(token);
    for (const token of tokens) expect(logged.join("\n")).not.toContain(token);
    const vaultWithOtherKey = new TokenVault(db.pool, localKeyWrapper(randomBytes(32)));
    await expect(vaultWithOtherKey.get({ sub: "bob", server: "files" })).rejects.toThrow();
  });
});

describe("renewing a user's token", () => {
  const ownerOf = (sub: string) => ({ sub, email: `${sub}@example.com`, server: "files" });
  const storedToken = async (sub: string) => (await new TokenVault(db.pool, keys).get(ownerOf(sub)))?.accessToken;

  it("uses a rotating refresh token once when two origin instances need a new token at once: both go on", async () => {
    const henry = await connect("henry");
    const stale = (await storedToken("henry")) ?? "";
    const refreshes = upstream.authorizationServer.issued.byRefresh;
    const [here, there] = await Promise.all([
      oauth.refresh(ownerOf("henry"), stale, files),
      originInstance().refresh(ownerOf("henry"), stale, files),
    ]);
    expect(here).toBeDefined();
    expect(there).toBe(here);
    expect(upstream.authorizationServer.issued.byRefresh).toBe(refreshes + 1);
    expect(await storedToken("henry")).toBe(here);
    expect((await whoami("henry")).result?.content?.[0]?.text).toBe(henry);
  });

  it("drops the tokens of a renewal that a revocation overtook, instead of storing the connection again", async () => {
    await connect("kim");
    const stale = (await storedToken("kim")) ?? "";
    // An operator revokes Kim's connection while an instance is renewing it (between its mark and the token request).
    const discovery = new AuthorizationDiscovery();
    const revokedMidway = Object.create(discovery) as AuthorizationDiscovery;
    revokedMidway.metadataOf = async (issuer) => {
      await new TokenVault(db.pool, keys).revoke({ email: "kim@example.com" });
      return discovery.metadataOf(issuer);
    };
    expect(await originInstance(revokedMidway).refresh(ownerOf("kim"), stale, files)).toBeUndefined();
    expect(await storedToken("kim")).toBeUndefined();
    expect(logged).toContainEqual(expect.stringMatching(/the connection was revoked; this refresh.s tokens were not stored/));
  });

  it("keeps a consent the user gave while an older token was being renewed, and answers its token", async () => {
    await connect("lou");
    const stale = (await storedToken("lou")) ?? "";
    const fresh = { accessToken: "fresh-consent", client: { client_id: "c" }, issuer: upstream.url };
    const discovery = new AuthorizationDiscovery();
    const consentedMidway = Object.create(discovery) as AuthorizationDiscovery;
    consentedMidway.metadataOf = async (issuer) => {
      await new TokenVault(db.pool, keys).put(ownerOf("lou"), fresh);
      return discovery.metadataOf(issuer);
    };
    expect(await originInstance(consentedMidway).refresh(ownerOf("lou"), stale, files)).toBe("fresh-consent");
    expect(await storedToken("lou")).toBe("fresh-consent");
  });

  it("keeps a consent given while a refresh that the authorization server then refuses was running", async () => {
    const account = await connect("max");
    const stale = (await storedToken("max")) ?? "";
    const fresh = { accessToken: "fresh-consent-max", client: { client_id: "c" }, issuer: upstream.url };
    const discovery = new AuthorizationDiscovery();
    const consentedMidway = Object.create(discovery) as AuthorizationDiscovery;
    consentedMidway.metadataOf = async (issuer) => {
      upstream.authorizationServer.revokeAccount(account); // the old grant is gone: the refresh gets invalid_grant
      await new TokenVault(db.pool, keys).put(ownerOf("max"), fresh);
      return discovery.metadataOf(issuer);
    };
    expect(await originInstance(consentedMidway).refresh(ownerOf("max"), stale, files)).toBe("fresh-consent-max");
    expect(await storedToken("max")).toBe("fresh-consent-max");
  });

  // Short-lived tokens: each call renews first (within a minute of expiry), so the token endpoint's state decides it.
  it.each([
    // Only the OAuth error code or "timeout" reaches the user, never the server's own words (the log has them).
    { endpoint: "down", sub: "iris", cause: /just now \(temporarily_unavailable\);/ },
    { endpoint: "silent", sub: "jane", cause: /just now \(timeout\);/ },
  ] as const)(
    "keeps the user's tokens while the token endpoint is $endpoint, says so within its bound, and renews them after",
    { timeout: 30_000 },
    async ({ endpoint, sub, cause }) => {
      upstream.authorizationServer.accessTokenSeconds = 5;
      try {
        const account = await connect(sub);
        const stale = (await storedToken(sub)) ?? "";
        upstream.authorizationServer.tokenEndpoint = endpoint;
        const during = await whoami(sub).finally(() => {
          upstream.authorizationServer.tokenEndpoint = "up";
        });
        expect(during.error?.message).toMatch(
          /authorization server of server "files" could not renew your token just now .*your connection is kept: try again shortly/,
        );
        expect(during.error?.message).toMatch(cause);
        expect(during.result?.inputRequests).toBeUndefined();
        expect(await storedToken(sub)).toBe(stale);
        expect((await whoami(sub)).result?.content?.[0]?.text).toBe(account);
        expect(await storedToken(sub)).not.toBe(stale);
      } finally {
        upstream.authorizationServer.accessTokenSeconds = 3600;
      }
    },
  );

  it.each([
    { echoedError: "invalid_request", sub: "nell", logs: /renewing a token for server "files" failed: .*\[REDACTED\]/ },
    { echoedError: "invalid_grant", sub: "otto", logs: /was dropped because its refresh was refused \(.*\[REDACTED\]/ },
  ])(
    "never logs a refresh token the authorization server echoes in its refusal ($echoedError)",
    async ({ echoedError, sub, logs }) => {
      await connect(sub);
      const owner = ownerOf(sub);
      const stored = await new TokenVault(db.pool, keys).get(owner);
      const as = upstream.authorizationServer;
      as.tokenEndpoint = "echoing";
      as.echoedError = echoedError;
      const before = logged.length;
      try {
        await oauth.refresh(owner, stored?.accessToken ?? "", files).catch(() => undefined);
      } finally {
        as.tokenEndpoint = "up";
      }
      const lines = logged.slice(before).join("\n");
      expect(lines).toMatch(logs);
      expect(lines).not.toContain(stored?.refreshToken);
    },
  );

  it("lets one instance at a time mark a row for refreshing; the mark lapses if it dies, and new tokens clear it", async () => {
    const vault = new TokenVault(db.pool, keys);
    const kate = ownerOf("kate");
    const tokens = { accessToken: "a", refreshToken: "r", client: { client_id: "c" }, issuer: "https://as.example.test" };
    await vault.put(kate, tokens);
    const lapsed = await vault.beginRefresh(kate, 300);
    expect(lapsed).toBeDefined();
    expect(await vault.beginRefresh(kate, 300)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const current = await vault.beginRefresh(kate, 60_000);
    expect(current).toBeDefined();
    // Only the current mark stores renewed tokens: a lapsed one's are dropped.
    expect(await vault.putRefreshed(kate, { ...tokens, accessToken: "late" }, lapsed as RefreshMark)).toBe(false);
    expect(await vault.putRefreshed(kate, { ...tokens, accessToken: "renewed" }, current as RefreshMark)).toBe(true);
    expect((await vault.get(kate))?.accessToken).toBe("renewed");
    expect(await vault.beginRefresh(kate, 60_000)).toBeDefined();
    await vault.put(kate, tokens);
    const given = await vault.beginRefresh(kate, 60_000);
    expect(given).toBeDefined();
    // A lapsed mark gives back nothing, nor deletes the row; the current one does.
    await vault.endRefresh(kate, lapsed as RefreshMark);
    expect(await vault.forgetMarked(kate, lapsed as RefreshMark)).toBe(false);
    expect(await vault.beginRefresh(kate, 60_000)).toBeUndefined();
    await vault.endRefresh(kate, given as RefreshMark);
    expect(await vault.beginRefresh(kate, 60_000)).toBeDefined();
    expect(await vault.beginRefresh(ownerOf("nobody"), 60_000)).toBeUndefined();
  });
});

describe("a static client whose secret cannot be read", () => {
  it("is told to the consent as that alone; the secret's name and the reason only in the origin's log", async () => {
    const lines: string[] = [];
    const clients = new ClientRegistrations(
      { redirectUriOf, clientMetadataUrlOf: () => "unused", clientName: "Test gateway" },
      secretsProviderFor({}, (line) => lines.push(line)),
    );
    const spec = UpstreamServer.parse({
      transport: "http",
      url: upstream.url,
      identity: "none",
      oauth: { registration: "static", clientId: "gateway", clientSecret: { secret: "OAUTH_SECRET_NEVER_SET" } },
    }) as HttpServer;
    const failure = await clients.clientFor("tickets", spec, {} as never).then(
      () => "registered",
      (error: Error) => error.message,
    );
    expect(failure).toBe("the origin could not read a credential this server needs (its log says why)");
    expect(lines.join("\n")).toContain('secret "OAUTH_SECRET_NEVER_SET" is not set');
  });
});

describe("the origin's dynamic registration at an upstream's authorization server", () => {
  const filesSpec = () =>
    UpstreamServer.parse({
      transport: "http",
      url: upstream.url,
      identity: "none",
      oauth: { registration: "dcr" },
    }) as HttpServer;

  it("registers anew once the authorization server refused it (it forgot its clients): the next consent works", async () => {
    const pia = await connect("pia");
    const registered = upstream.authorizationServer.registrations;
    upstream.authorizationServer.forgetClients();
    // The refresh is refused as invalid_client: the user is asked to consent again, with a new registration.
    const owner = { sub: "pia", email: "pia@example.com", server: "files" };
    const stale = (await new TokenVault(db.pool, keys).get(owner))?.accessToken ?? "";
    expect(await oauth.refresh(owner, stale, files)).toBeUndefined();
    const again = await connect("pia");
    expect(again).toMatch(/^account-\d+$/);
    expect(again).not.toBe(pia);
    expect(upstream.authorizationServer.registrations).toBe(registered + 1);

    // Forgotten between the consent page and the code exchange: the exchange is refused, the next consent registers.
    const ask = (await whoami("ravi")).result?.inputRequests?.[CONSENT_INPUT_KEY];
    const back = new URL((await fetch(ask?.params.url ?? "", { redirect: "manual" })).headers.get("location") ?? "");
    upstream.authorizationServer.forgetClients();
    await expect(oauth.complete(returnedTo(back), { sub: "ravi" })).rejects.toThrow(/invalid_client|client/i);
    expect(await connect("ravi")).toMatch(/^account-\d+$/);
    expect(upstream.authorizationServer.registrations).toBe(registered + 2);
  });

  it("registers anew a minute ahead of client_secret_expires_at, and when its registration is a day old", async () => {
    let now = Date.now();
    const instance = originInstance(
      new AuthorizationDiscovery(),
      clientRegistrations(() => now),
    );
    const begin = () => instance.begin({ sub: "quinn", email: "quinn@example.com", server: "files" }, filesSpec());
    const as = upstream.authorizationServer;
    const registered = as.registrations;
    as.registrationSeconds = 3600;
    try {
      await Promise.all([begin(), begin()]);
      await begin();
      expect(as.registrations).toBe(registered + 1);
      now += (3600 - 61) * 1000;
      await begin();
      expect(as.registrations).toBe(registered + 1);
      now += 2000; // 59 s before it expires
      as.registrationSeconds = undefined;
      await begin();
      expect(as.registrations).toBe(registered + 2);
      now += REGISTRATION_MAX_AGE_MS - 1000;
      await begin();
      expect(as.registrations).toBe(registered + 2);
      now += 1000;
      await begin();
      expect(as.registrations).toBe(registered + 3);
      // A day later the registration endpoint is down: consents go on with the day-old client, then register again.
      now += REGISTRATION_MAX_AGE_MS;
      as.registrationEndpoint = "down";
      const link = new URL(String(await begin()));
      expect(as.registrations).toBe(registered + 3);
      as.registrationEndpoint = "up";
      const client = link.searchParams.get("client_id");
      await begin();
      expect(as.registrations).toBe(registered + 4);
      const renewed = new URL(String(await begin())).searchParams.get("client_id");
      expect(renewed).not.toBe(client);
    } finally {
      as.registrationSeconds = undefined;
      as.registrationEndpoint = "up";
    }
  });
});
