import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportLeftOut } from "../../aws/origin/aggregate/left-out.ts";
import { CircuitBreaker } from "../../aws/origin/hosting/circuit-breaker.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import { createEnvSecretsProvider } from "../../aws/origin/secrets/env/env-secrets.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { launchHttpFixture, type RunningFixture } from "../fixtures/conformance-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// HTTP upstreams behind a debug page that answers a failure with the request echoed: its headers (the server's static
// key, the user's identity JWT or identity headers) and its body (the user's tool arguments). What the client, another
// user of a shared server and the origin's log are told of such a failure.

const STATIC_KEY = "static-key-of-the-server-7f3a9b1c";
const ALICE_ARGUMENT = "alice-private-argument-8842";
const ALICE_EMAIL = "alice.private@example.com";
const ALICE_GROUP = "secret-project@example.com";

let fixture: RunningFixture;
let pool: HostPool;
let base = "";
const logged: string[] = [];
/** The `authorization` headers the upstream was sent: the identity JWTs the origin signed. */
const identityTokens = new Set<string>();

/**
 * `/start/mcp` answers every request 400 with the request echoed (the start fails); `/call/mcp` answers a tool call
 * 500 with the request echoed and passes anything else to the conformance fixture (the start works).
 */
const debugPage = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString();
  if (req.headers.authorization) identityTokens.add(req.headers.authorization.replace(/^Bearer /, ""));
  const echo = () => `Internal Server Error. Debug: ${JSON.stringify({ headers: req.headers, body })}`;
  if (req.url?.startsWith("/start/")) {
    res.writeHead(400, { "content-type": "text/plain" }).end(echo());
    return;
  }
  if (body.includes('"tools/call"')) {
    res.writeHead(500, { "content-type": "text/plain" }).end(echo());
    return;
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers))
    if (typeof value === "string" && name !== "host" && name !== "content-length") headers.set(name, value);
  const answer = await fetch(fixture.url, { method: req.method, headers, body: req.method === "GET" ? undefined : body });
  const answered: Record<string, string> = {};
  answer.headers.forEach((value, name) => {
    answered[name] = value;
  });
  res.writeHead(answer.status, answered);
  res.end(Buffer.from(await answer.arrayBuffer()));
});

beforeAll(async () => {
  fixture = await launchHttpFixture("dual");
  await new Promise<void>((resolve) => debugPage.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(debugPage.address() as AddressInfo).port}`;
  const key = { "x-api-key": { secret: "DEBUG_PAGE_KEY" } };
  pool = createHostPool({
    servers: {
      perUser: UpstreamServer.parse({ transport: "http", url: `${base}/call/mcp`, identity: "jwt", headers: key }),
      shared: UpstreamServer.parse({
        transport: "http",
        url: `${base}/call/mcp`,
        identity: "none",
        sharing: "shared",
        headers: key,
      }),
      starting: UpstreamServer.parse({ transport: "http", url: `${base}/start/mcp`, identity: "headers", headers: key }),
      sharedStart: UpstreamServer.parse({
        transport: "http",
        url: `${base}/start/mcp`,
        identity: "none",
        sharing: "shared",
        headers: key,
      }),
    },
    idleTimeoutMs: 60_000,
    maxProcesses: 10,
    breaker: { failures: 2, openMs: 30_000 },
    host: { ...testHostOptions, secrets: createEnvSecretsProvider({ DEBUG_PAGE_KEY: STATIC_KEY }) },
    log: (line) => logged.push(line),
  });
}, 60_000);

afterAll(async () => {
  await pool?.close();
  await fixture?.stop();
  await new Promise<void>((resolve) => debugPage.close(() => resolve()));
});

const assertionOf = (sub: string, email: string, server: string) =>
  ({ sub, email, groups: [ALICE_GROUP], client_id: "c", server, purpose: "mcp", jti: sub, exp: 0 }) as VerifiedAssertion;
const ALICE = (server: string) => assertionOf("alice", ALICE_EMAIL, server);
const BOB = (server: string) => assertionOf("bob", "bob@example.com", server);

async function errorOf(server: string, assertion: VerifiedAssertion, request: Request): Promise<string> {
  const messages = await messagesOf(await serveMcp(pool, server, assertion, request));
  const error = messages.at(-1)?.error as { message?: string } | undefined;
  if (!error?.message) throw new Error(`expected an error, got ${JSON.stringify(messages)}`);
  return error.message;
}

async function firstTool(server: string, assertion: VerifiedAssertion): Promise<string> {
  const list = await messagesOf(await serveMcp(pool, server, assertion, modernRequest("tools/list")));
  const name = (list.at(-1)?.result as { tools?: { name: string }[] } | undefined)?.tools?.[0]?.name;
  if (!name) throw new Error(`expected a tool list, got ${JSON.stringify(list)}`);
  return name;
}

const callOf = (tool: string, text: string) => modernRequest("tools/call", { name: tool, arguments: { message: text } });

/** Whatever the debug page echoed that must not be repeated. */
function expectNothingEchoed(text: string): void {
  expect(text).not.toContain(STATIC_KEY);
  expect(text).not.toContain(ALICE_ARGUMENT);
  expect(text).not.toContain(ALICE_EMAIL);
  expect(text).not.toContain("secret-project");
  expect(text).not.toContain("Debug:");
  for (const token of identityTokens) expect(text).not.toContain(token);
}

describe("an HTTP upstream's error page", () => {
  it("reaches the client of a failed call as its status only", async () => {
    const tool = await firstTool("perUser", ALICE("perUser"));
    const message = await errorOf("perUser", ALICE("perUser"), callOf(tool, ALICE_ARGUMENT));
    expect(identityTokens.size).toBeGreaterThan(0);
    expect(message).toBe("the upstream server failed: HTTP 500 from the upstream server");
    expectNothingEchoed(message);
  });

  it("reaches the client of a failed start as its status only, naming the server", async () => {
    const message = await errorOf("starting", ALICE("starting"), modernRequest("tools/list"));
    expect(message).toMatch(/^server "starting" could not be started: HTTP 400 from the upstream server/);
    expectNothingEchoed(message);
  });

  it("is not in the refusal of a shared server's circuit of one user's requests (others are not refused)", async () => {
    const tool = await firstTool("shared", ALICE("shared"));
    for (let i = 0; i < 2; i++) await errorOf("shared", ALICE("shared"), callOf(tool, ALICE_ARGUMENT));
    const refusal = await errorOf("shared", ALICE("shared"), callOf(tool, "alice's next"));
    expect(refusal).toMatch(
      /^server "shared" \(your requests on it\) failed 2 times in a row \(last: the upstream server failed: HTTP 500 /,
    );
    expectNothingEchoed(refusal);
    // An error status answers one request (s21 I2): another user's call still reaches the upstream.
    const bobs = await errorOf("shared", BOB("shared"), callOf(tool, "bob's own"));
    expect(bobs).toBe("the upstream server failed: HTTP 500 from the upstream server");
  });

  it("is not in the refusal another user of a shared server gets once its failed starts open its circuit", async () => {
    for (let i = 0; i < 2; i++) {
      const failed = await errorOf("sharedStart", ALICE("sharedStart"), callOf("any", ALICE_ARGUMENT));
      expect(failed).toContain('server "sharedStart" could not be started: HTTP 400');
    }
    const refusal = await errorOf("sharedStart", BOB("sharedStart"), callOf("any", "bob's own"));
    expect(refusal).toMatch(/^server "sharedStart" failed 2 times in a row \(last: could not be started: HTTP 400 /);
    expectNothingEchoed(refusal);
  });

  it("is not in the origin's log, which names the server and the status", async () => {
    const log = logged.join("\n");
    expect(log).toContain("starting [user ");
    expect(log).toContain("failed to start: HTTP 400 from the upstream server");
    expect(log).toMatch(
      /shared \[every user, requests of user [0-9a-f]{8}\] failed 2 or more times in a row \(last: the upstream server failed: HTTP 500/,
    );
    expectNothingEchoed(log);
  });
});

describe("the aggregated endpoint's log of a server it left out", () => {
  it("redacts the credentials and cuts the length of the reason", () => {
    const lines: string[] = [];
    const report = reportLeftOut({ insert: async () => {} }, (line) => lines.push(line));
    const token = `eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.${"s".repeat(40)}`;
    report("echo", "tools/list", `it answered error -32000: authorization: Bearer ${token} ${"x".repeat(5000)}`, ALICE("echo"));
    const line = lines.find((text) => text.startsWith("aggregate:")) ?? "";
    expect(line).toContain('aggregate: tools/list answered without server "echo": it answered error -32000: authorization');
    expect(line).not.toContain(token);
    expect(line.length).toBeLessThan(2200);
  });
});

describe("a circuit's refusal", () => {
  it("repeats the last failure redacted and cut, should it be given more than a kind", () => {
    const circuit = new CircuitBreaker({ failures: 1, openMs: 10_000 });
    const token = `eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.${"s".repeat(40)}`;
    circuit.failed(`the upstream server failed: ${token} ${"x".repeat(5000)}`);
    const refusal = (() => {
      try {
        circuit.admit('server "x"');
      } catch (error) {
        return (error as Error).message;
      }
      return "";
    })();
    expect(refusal).toMatch(
      /^server "x" failed once in a row \(last: the upstream server failed: \[REDACTED JSON Web Token\] x* *… \(cut[^)]*\)\)/,
    );
    expect(refusal.length).toBeLessThan(700);
  });
});
