import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import { DIRECTORY_SCOPES } from "../../aws/origin/identity/google/delegated-token.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { googleUserTokens } from "../../aws/origin/upstream-credentials/google-user-tokens.ts";
import type { UpstreamServer } from "../../contract/config/schema.ts";
import type { FakeGoogle } from "../../local/fake-google/server.ts";
import { launchHttpFixture, type RunningFixture, stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { googleConfigFor, startTestGoogle, testAwsCredentials } from "./google-fake-setup.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// Google credentials per user (googleCredentials): the origin makes each user's token through Workload Identity
// Federation and domain-wide delegation against the fake Google APIs, and hands it to that user's upstream: a stdio
// child in its environment, an HTTP server in a header. The fake says whom and which scopes each token was for.

const DRIVE = "https://www.googleapis.com/auth/drive.readonly";
const CALENDAR = "https://www.googleapis.com/auth/calendar.readonly";
const ALICE = "alice@example.com";
const BOB = "bob@example.com";
const HOUR_MS = 3600 * 1000;

let google: FakeGoogle;
let httpFixture: RunningFixture;
let pool: HostPool;
const logs: string[] = [];
const spawned: Record<string, number> = {};
/** The origin's clock runs ahead of the real one by this much: a test moves it to make tokens near their expiry. */
let clockAheadMs = 0;

beforeAll(async () => {
  // The domain delegated the Drive scope (and the Directory's) to the service account, not Calendar.
  google = await startTestGoogle({ [ALICE]: [], [BOB]: [] }, { delegatedScopes: [...DIRECTORY_SCOPES, DRIVE] });
  httpFixture = await launchHttpFixture("dual");
  const stdio = stdioFixtureCommand("dual");
  const servers: Record<string, UpstreamServer> = {
    drive: { ...stdio, transport: "stdio", env: {}, googleCredentials: { scopes: [DRIVE], inject: { env: "MCP_GOOGLE_TOKEN" } } },
    calendar: {
      ...stdio,
      transport: "stdio",
      env: {},
      googleCredentials: { scopes: [CALENDAR], inject: { env: "MCP_GOOGLE_TOKEN" } },
    },
    // A 2025-era child: its sampling request mid-call is parked at the origin until the client's retry answers it.
    "drive-legacy": {
      ...stdioFixtureCommand("legacy"),
      transport: "stdio",
      env: {},
      googleCredentials: { scopes: [DRIVE], inject: { env: "MCP_GOOGLE_TOKEN" } },
    },
    "drive-http": {
      transport: "http",
      url: httpFixture.url,
      protocol: "streamable-http",
      identity: "headers",
      headers: {},
      googleCredentials: { scopes: [DRIVE], inject: { header: "authorization" } },
    },
  };
  const googleTokens = googleUserTokens(googleConfigFor(google.url), testAwsCredentials, () => Date.now() + clockAheadMs);
  pool = createHostPool({
    servers,
    idleTimeoutMs: 60_000,
    maxProcesses: 10,
    host: { ...testHostOptions, googleTokens },
    children: (server) => ({
      spawned: () => {
        spawned[server] = (spawned[server] ?? 0) + 1;
      },
      exited: () => {},
    }),
    log: (line) => logs.push(line),
  });
}, 60_000);

afterAll(async () => {
  await pool?.close();
  await httpFixture?.stop();
  await google?.close();
});

afterEach(() => {
  google.outage(undefined);
});

type Answer = { result?: { structuredContent?: Record<string, unknown> }; error?: { code: number; message: string } };

const assertionOf = (email: string | undefined, server: string) =>
  ({ sub: email ?? "no-email", email, client_id: "c", server, purpose: "mcp", jti: "j", exp: 0 }) as VerifiedAssertion;

/** A tool call through the origin's MCP route, as the edge makes it for this user. */
async function call(email: string | undefined, server: string, tool: string, args: Record<string, unknown> = {}) {
  const response = await serveMcp(
    pool,
    server,
    assertionOf(email, server),
    modernRequest("tools/call", { name: tool, arguments: args }),
  );
  const messages = (await messagesOf(response)) as Answer[];
  return { status: response.status, answer: messages.find((message) => message.result || message.error) as Answer };
}

async function tokenInChild(email: string, server = "drive"): Promise<string> {
  const { answer } = await call(email, server, "whoami");
  const seen = answer.result?.structuredContent as { environment: Record<string, string> };
  return seen.environment.MCP_GOOGLE_TOKEN ?? "";
}

/** The headers an HTTP upstream's call arrived with, as its whoami tool reports them. */
async function headersSeen(email: string): Promise<Record<string, string>> {
  const { answer } = await call(email, "drive-http", "whoami");
  const seen = answer.result?.structuredContent as { headers?: Record<string, string> } | undefined;
  return seen?.headers ?? {};
}

async function childPid(email: string, server = "drive"): Promise<number> {
  const { answer } = await call(email, server, "counter_increment");
  return answer.result?.structuredContent?.pid as number;
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitForExit(pid: number): Promise<void> {
  for (let tries = 0; tries < 100 && isRunning(pid); tries++) await new Promise((resolve) => setTimeout(resolve, 100));
}

describe("a stdio upstream gets its user's Google token in its environment", () => {
  it("gives each user's child a token the fake issued for that user's e-mail and the server's scopes", async () => {
    const alices = await tokenInChild(ALICE);
    const bobs = await tokenInChild(BOB);
    expect(alices).not.toBe(bobs);
    expect(google.issued(alices)).toMatchObject({ kind: "delegated", principal: ALICE, scopes: [DRIVE] });
    expect(google.issued(bobs)).toMatchObject({ kind: "delegated", principal: BOB, scopes: [DRIVE] });
    expect(await childPid(ALICE)).not.toBe(await childPid(BOB));
  });

  it("keeps the user's child and token while the token is fresh", async () => {
    const token = await tokenInChild(ALICE);
    const pid = await childPid(ALICE);
    const grants = google.requests["oauth-token"];
    expect(await tokenInChild(ALICE)).toBe(token);
    expect(await childPid(ALICE)).toBe(pid);
    expect(google.requests["oauth-token"]).toBe(grants);
  });

  it("replaces the child with one holding a fresh token once its token nears expiry, and stops the old one", async () => {
    const oldToken = await tokenInChild(ALICE);
    const oldPid = await childPid(ALICE);
    clockAheadMs += HOUR_MS - 4 * 60 * 1000; // four minutes of the token's hour left
    const newToken = await tokenInChild(ALICE);
    const newPid = await childPid(ALICE);
    expect(newToken).not.toBe(oldToken);
    expect(google.issued(newToken)).toMatchObject({ kind: "delegated", principal: ALICE, scopes: [DRIVE] });
    expect(newPid).not.toBe(oldPid);
    await waitForExit(oldPid);
    expect(isRunning(oldPid)).toBe(false);
  });
});

describe("a child outliving its token", () => {
  it("finishes the call it is serving on the old child while new calls go to a child with a fresh token", async () => {
    const oldPid = await childPid(ALICE);
    const long = call(ALICE, "drive", "wait_for_cancel", { seconds: 8 });
    await new Promise((resolve) => setTimeout(resolve, 500)); // the long call is on the old child by now
    clockAheadMs += HOUR_MS - 4 * 60 * 1000;
    const newPid = await childPid(ALICE);
    expect(newPid).not.toBe(oldPid);
    expect(isRunning(oldPid)).toBe(true);
    const finished = await long;
    expect(finished.answer.result).toMatchObject({ content: [{ type: "text", text: "waited" }] });
    await waitForExit(oldPid);
    expect(isRunning(oldPid)).toBe(false);
  });
});

describe("a call parked on its user's answer when the child's token nears expiry", () => {
  it("is answered on the child that asked; the child is renewed once nothing waits", async () => {
    const oldPid = await childPid(ALICE, "drive-legacy");
    const capabilities = { sampling: {} };
    const params = { name: "test_sampling", arguments: { prompt: "hi" } };
    const ask = async (request: Request) => {
      const response = await serveMcp(pool, "drive-legacy", assertionOf(ALICE, "drive-legacy"), request);
      const messages = (await messagesOf(response)) as {
        result?: { resultType?: string; requestState?: string; inputRequests?: Record<string, unknown>; content?: unknown };
      }[];
      return messages.find((message) => message.result)?.result;
    };
    const first = await ask(modernRequest("tools/call", params, { capabilities }));
    expect(first?.resultType, JSON.stringify(first)).toBe("input_required");
    clockAheadMs += HOUR_MS - 4 * 60 * 1000; // the token nears expiry while the user answers
    const [key] = Object.keys(first?.inputRequests ?? {});
    const answer = { role: "assistant", content: { type: "text", text: "sampled by the test" }, model: "test-model" };
    const retry = { ...params, inputResponses: { [key as string]: answer }, requestState: first?.requestState };
    const second = await ask(modernRequest("tools/call", retry, { id: 2, capabilities }));
    expect(JSON.stringify(second?.content)).toContain("sampled by the test");
    const newPid = await childPid(ALICE, "drive-legacy");
    expect(newPid).not.toBe(oldPid);
    await waitForExit(oldPid);
  });
});

describe("an HTTP upstream gets its user's Google token in a header", () => {
  it("sends Authorization: Bearer <the user's token> on every request, beside the user's identity headers", async () => {
    const headers = await headersSeen(ALICE);
    const token = /^Bearer (\S+)$/.exec(headers.authorization ?? "")?.[1] ?? "";
    expect(google.issued(token)).toMatchObject({ kind: "delegated", principal: ALICE, scopes: [DRIVE] });
    expect(headers["x-forwarded-email"]).toBe(ALICE);
  });

  it("sends a renewed token once the previous one nears expiry, on the same connection", async () => {
    const bearer = async () => (await headersSeen(BOB)).authorization;
    const before = await bearer();
    clockAheadMs += HOUR_MS - 4 * 60 * 1000;
    const after = await bearer();
    expect(after).not.toBe(before);
    expect(google.issued(after?.slice("Bearer ".length) ?? "")).toMatchObject({ principal: BOB, scopes: [DRIVE] });
  });
});

describe("when Google refuses, the call says which server and what to fix, and no child starts", () => {
  it("a scope the domain did not delegate: a JSON-RPC error naming the server, the step and the scopes", async () => {
    const { status, answer } = await call(ALICE, "calendar", "whoami");
    expect(status).toBe(503);
    expect(answer.error?.code).toBe(-32000);
    expect(answer.error?.message).toContain('server "calendar"');
    expect(answer.error?.message).toContain("delegation step");
    expect(answer.error?.message).toContain("unauthorized_client");
    expect(answer.error?.message).toContain(`Domain-wide delegation): ${CALENDAR}`);
    expect(spawned.calendar).toBeUndefined();
  });

  it("Google unavailable when a child's token must be renewed: the call is refused with a retry hint, then recovers", async () => {
    const pid = await childPid(BOB);
    clockAheadMs += HOUR_MS - 4 * 60 * 1000;
    google.outage("oauth-token");
    const refused = await call(BOB, "drive", "whoami");
    expect(refused.status).toBe(503);
    expect(refused.answer.error?.message).toMatch(/server "drive".*Google is unavailable, try again shortly/);
    google.outage(undefined);
    expect(google.issued(await tokenInChild(BOB))).toMatchObject({ principal: BOB, scopes: [DRIVE] });
    expect(await childPid(BOB)).not.toBe(pid);
  });

  it("a caller without an e-mail cannot be the delegation's subject", async () => {
    const { status, answer } = await call(undefined, "drive", "whoami");
    expect(status).toBe(503);
    expect(answer.error?.message).toContain("needs the user's e-mail for its Google credentials");
  });

  it("never logs a token (nor a user's e-mail)", () => {
    const everything = logs.join("\n");
    expect(logs.length).toBeGreaterThan(0);
    expect(everything).not.toMatch(/ya29\./);
    expect(everything).not.toContain(ALICE);
    expect(everything).toContain('server "calendar" needs a Google token');
  });
});
