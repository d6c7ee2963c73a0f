import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AggregateOptions, serveAggregate } from "../../aws/origin/aggregate/serve-aggregate.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ClientRegistrations } from "../../aws/origin/upstream-auth/client-registration.ts";
import { AuthorizationDiscovery } from "../../aws/origin/upstream-auth/discovery.ts";
import { PendingAuthorizations } from "../../aws/origin/upstream-auth/pending-authorizations.ts";
import { UpstreamOAuth } from "../../aws/origin/upstream-auth/upstream-oauth.ts";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { type OAuthUpstream, startOAuthUpstream } from "../fixtures/oauth-upstream/start.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// The aggregated endpoint /mcp beside an OAuth-protected upstream the user has not connected their account to yet: the
// server lists one tool that asks for the connection, so that a user of /mcp alone can connect.
let db: TestDatabase;
let upstream: OAuthUpstream;
let pool: HostPool;
let options: AggregateOptions;
const leftOut: string[] = [];
const keys = localKeyWrapper(randomBytes(32));

beforeAll(async () => {
  db = await withTestDatabase();
  await migrate(db.pool);
  upstream = await startOAuthUpstream();
  const oauth = new UpstreamOAuth({
    vault: new TokenVault(db.pool, keys),
    pending: new PendingAuthorizations(db.pool, keys),
    discovery: new AuthorizationDiscovery(),
    clients: new ClientRegistrations(
      {
        redirectUriOf: (s) => `https://edge.test/upstream-oauth/callback/${s}`,
        clientMetadataUrlOf: (s) => `https://edge.test/upstream-oauth/client-metadata/${s}.json`,
        clientName: "Test gateway",
      },
      testHostOptions.secrets,
    ),
    log: () => {},
  });
  const servers = {
    notes: catalogServer({ name: "notes", tools: [{ name: "read" }] }),
    files: UpstreamServer.parse({ transport: "http", url: upstream.url, identity: "none", oauth: { registration: "dcr" } }),
  };
  pool = createHostPool({
    servers,
    idleTimeoutMs: 60_000,
    maxProcesses: 8,
    host: { ...testHostOptions, upstreamOAuth: oauth },
    log: () => {},
  });
  options = {
    servers: Object.keys(servers),
    upstreamTimeoutMs: 15_000,
    keepAliveMs: 0,
    askServer: (server, assertion, request) => serveMcp(pool, server, assertion, request, undefined, { aggregated: true }),
    leftOut: (server, method, reason) => leftOut.push(`${server} ${method}: ${reason}`),
  };
});
afterAll(async () => {
  await pool?.close();
  await upstream?.close();
  await db?.close();
});

const URL_ELICITING = { elicitation: { form: {}, url: {} } };
const alice = {
  sub: "alice",
  email: "alice@example.com",
  client_id: "c",
  server: ALL_SERVERS,
  purpose: "mcp",
  jti: "j",
  exp: 0,
} as VerifiedAssertion;
type Answer = { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };
async function ask(method: string, params: Record<string, unknown> = {}, capabilities: Record<string, unknown> = URL_ELICITING) {
  const messages = (await messagesOf(
    await serveAggregate(options, alice, modernRequest(method, params, { capabilities })),
  )) as Answer[];
  return messages.find((m) => m.result || m.error) as Answer;
}

describe("the aggregated endpoint beside a server the user has not connected to", () => {
  it("lists that server's one tool asking for the connection, and does not report the server unavailable", async () => {
    const list = await ask("tools/list");
    const tools = list.result?.tools as { name: string; description?: string }[];
    expect(tools.map((tool) => tool.name)).toEqual(["notes__read", "files__connect_account"]);
    expect(tools[1]?.description).toContain('Server "files" needs you to connect your account there');
    expect(leftOut.filter((line) => line.startsWith("files tools/list"))).toEqual([]);
  });

  it("begins no authorization for a list: only a call of the connect tool makes a link", async () => {
    const pending = async () =>
      Number((await db.pool.query("SELECT count(*) AS n FROM upstream_oauth_pending WHERE user_sub = 'alice'")).rows[0].n);
    const before = await pending();
    for (const method of ["tools/list", "prompts/list", "resources/list", "tools/list"]) await ask(method);
    expect(await pending()).toBe(before);
    await ask("tools/call", { name: "files__connect_account", arguments: {} });
    expect(await pending()).toBe(before + 1);
  });

  it("answers a call of it with the consent question: a URL elicitation, or the link in the error", async () => {
    const asked = await ask("tools/call", { name: "files__connect_account", arguments: {} });
    expect(asked.result?.resultType).toBe("input_required");
    const question = Object.values(
      asked.result?.inputRequests as Record<string, { method: string; params: { mode: string; url: string } }>,
    )[0];
    expect(question?.method).toBe("elicitation/create");
    expect(question?.params.mode).toBe("url");
    expect(new URL(question?.params.url ?? "").pathname).toBe("/authorize");
    const told = await ask("tools/call", { name: "files__connect_account", arguments: {} }, { elicitation: { form: {} } });
    expect(told.error?.code).toBe(-32007);
    expect(told.error?.message).toMatch(
      /^server "files" needs you to connect your account first: open http:\/\/\S+\/authorize\?/,
    );
  });
});
