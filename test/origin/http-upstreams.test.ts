import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { createUpstreamIdentity } from "../../aws/origin/identity/upstream-identity.ts";
import { secretsProviderFor } from "../../aws/origin/secrets/select.ts";
import type { UpstreamServer } from "../../contract/config/schema.ts";
import { freePort } from "../../local/free-port.ts";
import { launchHttpFixture, type RunningFixture } from "../fixtures/conformance-upstream/launch.ts";
import { messagesOf, modernRequest, TEST_IDENTITY_KEY, TEST_ISSUER, testHostOptions } from "./modern-request.ts";

// HTTP upstreams inside the VPC, one of each kind: Streamable HTTP serving 2026-07-28 (and 2025), Streamable
// HTTP serving 2025-11-25 only, and the 2024-11-05 HTTP+SSE transport. The first two verify the identity JWT
// the origin signs for them, against the origin's JWKS, and refuse requests without one.

const ALICE = {
  sub: "alice",
  email: "alice@example.com",
  groups: ["engineering"],
  server: "",
  clientId: "test-client",
  era: "modern" as const,
};
const CLIENT_TOKEN = "client-bearer-token-that-must-stay-at-the-edge";

let jwks: Server;
let jwksUrl: string;
const fixtures: RunningFixture[] = [];
let sseServer: ChildProcess;
let pool: HostPool;
let servers: Record<string, UpstreamServer>;

beforeAll(async () => {
  jwks = createServer((_request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify(testHostOptions.identity.jwks()));
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;

  const verifying = async (era: "dual" | "legacy") => {
    // The fixture learns its own URL only once it listens; its audience is its MCP path on any port.
    const fixture = await launchHttpFixture(era, 20_000, [
      "--identity-jwks",
      jwksUrl,
      "--identity-audience",
      `upstream-${era}`,
      "--identity-issuer",
      TEST_ISSUER,
    ]);
    fixtures.push(fixture);
    return fixture.url;
  };
  const modernUrl = await verifying("dual");
  const plain = await launchHttpFixture("dual");
  fixtures.push(plain);
  const legacyUrl = await verifying("legacy");
  const ssePort = await freePort();
  sseServer = startEverythingSse(ssePort);
  servers = {
    modern: {
      transport: "http",
      url: modernUrl,
      protocol: "streamable-http",
      identity: "jwt",
      audience: "upstream-dual",
      headers: {},
    },
    legacy: {
      transport: "http",
      url: legacyUrl,
      protocol: "streamable-http",
      identity: "jwt",
      audience: "upstream-legacy",
      headers: {},
    },
    sse: { transport: "http", url: `http://127.0.0.1:${ssePort}/sse`, protocol: "sse", identity: "headers", headers: {} },
    "header-mode": { transport: "http", url: plain.url, protocol: "streamable-http", identity: "headers", headers: {} },
  };
  await waitForPort(ssePort);
  pool = createHostPool({ servers, idleTimeoutMs: 60_000, maxProcesses: 10, host: testHostOptions, log: () => {} });
}, 60_000);

afterAll(async () => {
  await pool?.close();
  await Promise.all(fixtures.map((fixture) => fixture.stop()));
  sseServer?.kill("SIGTERM");
  await new Promise<void>((resolve) => jwks.close(() => resolve()));
});

type Message = { result?: Record<string, unknown>; error?: { code: number; message: string } };

async function callTool(server: string, name: string, args: Record<string, unknown> = {}, who = ALICE) {
  const caller = { ...who, server };
  const { host } = await pool.acquire(server, caller);
  const request = modernRequest("tools/call", { name, arguments: args });
  request.headers.set("authorization", `Bearer ${CLIENT_TOKEN}`); // what a careless relay would pass on
  const messages = (await messagesOf(await host.fetch(request, caller))) as Message[];
  return { host, answer: messages.find((message) => message.result || message.error) as Message };
}

describe("HTTP upstreams in the VPC", () => {
  it.each([
    ["modern", "modern", "upstream-dual"],
    ["legacy", "legacy", "upstream-legacy"],
  ])(
    "reaches the %s Streamable HTTP upstream (era %s) with a verifiable identity JWT, never the client's token",
    async (server, era, audience) => {
      const { host, answer } = await callTool(server, "whoami");
      expect(host.era).toBe(era);
      const seen = answer.result?.structuredContent as { headers: Record<string, string> };
      const token = /^Bearer (.+)$/.exec(seen.headers.authorization ?? "")?.[1] ?? "";
      expect(token).not.toBe(CLIENT_TOKEN);
      const { payload } = await jwtVerify(token, createLocalJWKSet(testHostOptions.identity.jwks() as never), { audience });
      expect(payload).toMatchObject({
        sub: "alice",
        email: "alice@example.com",
        groups: ["engineering"],
        iss: TEST_ISSUER,
      });
    },
  );

  it("sends identity headers a group name cannot forge: each group percent-encoded, then joined by commas", async () => {
    // A group someone could name themselves ("eng,admins") must not read as membership of "admins".
    const who = { ...ALICE, sub: "gus", email: "gus@example.com", groups: ["eng,admins", "ops team", "ünï"] };
    const { answer } = await callTool("header-mode", "whoami", {}, who);
    const seen = (answer.result?.structuredContent as { headers?: Record<string, string> } | undefined)?.headers ?? {};
    expect(seen["x-forwarded-groups"]).toBe("eng%2Cadmins,ops%20team,%C3%BCn%C3%AF");
    expect(seen["x-forwarded-groups"]?.split(",").map(decodeURIComponent)).toEqual(who.groups);
    expect(seen["x-forwarded-user"]).toBe("gus");
    expect(seen.authorization).toBeUndefined();
  });

  it("reaches a 2024-11-05 HTTP+SSE upstream", async () => {
    const { host, answer } = await callTool("sse", "echo", { message: "over the old transport" });
    expect(host.era).toBe("legacy");
    expect(answer.result?.content).toEqual([{ type: "text", text: "Echo: over the old transport" }]);
  });

  it.each([
    ["for another audience", { audience: "someone-else" }, {}],
    // Signed by the origin's own key, but naming another issuer: a token of another deployment sharing a key.
    ["from another issuer", {}, { issuer: "http://elsewhere.test" }],
  ])("is refused by an upstream that verifies identity when the token is %s", async (_, serverChange, issuerChange) => {
    const identity = await createUpstreamIdentity({
      issuer: TEST_ISSUER,
      signingKey: TEST_IDENTITY_KEY,
      ttlSeconds: 300,
      log: () => {},
      ...issuerChange,
    });
    const misaddressed = createHostPool({
      servers: { modern: { ...(servers.modern as Extract<UpstreamServer, { transport: "http" }>), ...serverChange } },
      idleTimeoutMs: 60_000,
      maxProcesses: 1,
      host: { ...testHostOptions, identity },
      log: () => {},
    });
    try {
      await expect(misaddressed.acquire("modern", { ...ALICE, server: "modern" })).rejects.toThrow(/could not be started/);
    } finally {
      await misaddressed.close();
    }
  });
});

describe("an HTTP upstream whose configured credential cannot be read", () => {
  it("tells the caller only that, and the origin's log why", async () => {
    const logged: string[] = [];
    const plainUrl = (servers["header-mode"] as { url: string }).url;
    const locked = createHostPool({
      servers: {
        locked: {
          transport: "http",
          url: plainUrl,
          protocol: "streamable-http",
          identity: "headers",
          headers: { "x-api-key": { secret: "NEVER_SET_ANYWHERE" } },
        },
      },
      idleTimeoutMs: 60_000,
      maxProcesses: 1,
      // The provider as the origin selects it (relay-options.ts): its reasons go to the origin's log.
      host: { ...testHostOptions, secrets: secretsProviderFor({}, (line) => logged.push(line)) },
      log: (line) => logged.push(line),
    });
    try {
      const failure = await locked.acquire("locked", { ...ALICE, server: "locked" }).then(
        () => "started",
        (error: Error) => error.message,
      );
      expect(failure).toContain("the origin could not read a credential this server needs (its log says why)");
      expect(failure).not.toContain("NEVER_SET_ANYWHERE");
      expect(logged.join("\n")).toMatch(/upstream credential could not be read: .*NEVER_SET_ANYWHERE/);
    } finally {
      await locked.close();
    }
  });
});

// The SDK's transports follow redirects within the upstream's origin only (redirectPolicy "same-origin", their
// default): a redirect elsewhere would carry the configured secret headers and the user's identity there.
describe("an HTTP upstream that redirects", () => {
  it("is not followed: its secret header and the user's identity never reach the other host, and the log says why", async () => {
    const reached: string[] = [];
    const elsewhere = createServer((request, response) => {
      reached.push(String(request.headers["x-api-key"]));
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
    const target = `http://localhost:${(elsewhere.address() as AddressInfo).port}/mcp`;
    const redirecting = createServer((_request, response) => response.writeHead(307, { location: target }).end());
    await new Promise<void>((resolve) => redirecting.listen(0, "127.0.0.1", resolve));
    const logged: string[] = [];
    const moved = createHostPool({
      servers: {
        moved: {
          transport: "http",
          url: `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/mcp`,
          protocol: "streamable-http",
          identity: "jwt",
          headers: { "x-api-key": "a-static-secret" },
        },
      },
      idleTimeoutMs: 60_000,
      maxProcesses: 1,
      host: testHostOptions,
      log: (line) => logged.push(line),
    });
    try {
      await expect(moved.acquire("moved", { ...ALICE, server: "moved" })).rejects.toThrow(/could not be started/);
      expect(reached).toEqual([]);
      expect(logged.join("\n")).toContain(`Redirect to ${target} not followed; use that URL as the endpoint`);
    } finally {
      await moved.close();
      await new Promise<void>((resolve) => redirecting.close(() => resolve()));
      await new Promise<void>((resolve) => elsewhere.close(() => resolve()));
    }
  });
});

function startEverythingSse(port: number): ChildProcess {
  const everything = createRequire(import.meta.url).resolve("@modelcontextprotocol/server-everything/dist/index.js");
  return spawn(process.execPath, [everything, "sse"], { env: { ...process.env, PORT: String(port) }, stdio: "ignore" });
}

async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listened on port ${port}`);
}
