import { SdkError, SdkErrorCode, SdkHttpError } from "@modelcontextprotocol/client";
import { ProtocolError } from "@modelcontextprotocol/server";
import { afterEach, describe, expect, it } from "vitest";
import { type BreakerSettings, CircuitBreaker, CircuitOpen } from "../../aws/origin/hosting/circuit-breaker.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { HostingError } from "../../aws/origin/hosting/hosting-error.ts";
import { UpstreamTimeout, upstreamUnavailable, worthRetrying } from "../../aws/origin/hosting/upstream-errors.ts";
import { UpstreamConsentRequired } from "../../aws/origin/upstream-auth/consent.ts";
import type { StdioServer } from "../../contract/config/schema.ts";
import { demoServers } from "../../local/system.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";
import { originUnderTest, TEST_INSTANCE } from "./origin-under-test.ts";

// Each upstream connection's circuit breaker: a child that will not start is not spawned again for every request, a
// server that does not answer is not waited on by each, one user's failures never refuse another user, and an error
// the upstream answers with is not a failure.

const SETTINGS: BreakerSettings = { failures: 3, openMs: 10_000 };

function breakerAt(settings = SETTINGS) {
  const clock = { now: 1_000_000 };
  return { breaker: new CircuitBreaker(settings, () => clock.now), clock };
}

const waitFor = async (condition: () => boolean, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const refusal = (admit: () => void): CircuitOpen => {
  try {
    admit();
  } catch (error) {
    if (error instanceof CircuitOpen) return error;
    throw error;
  }
  throw new Error("the request was let through");
};

describe("circuit breaker: the states", () => {
  it("lets requests through until the failures in a row reach the bound, then refuses them saying why and for how long", () => {
    const { breaker } = breakerAt();
    for (let i = 0; i < SETTINGS.failures; i++) {
      breaker.admit('server "x"');
      breaker.failed("the upstream server closed the connection");
    }
    const refused = refusal(() => breaker.admit('server "x"'));
    expect(refused.retryAfterSeconds).toBe(10);
    expect(refused.message).toBe(
      'server "x" failed 3 times in a row (last: the upstream server closed the connection); the origin stops trying it for a while: retry in 10 s',
    );
    expect(breaker.open).toBe(true);
  });

  it("counts failures in a row only: an answer in between starts the count again", () => {
    const { breaker } = breakerAt();
    breaker.failed("one");
    breaker.failed("two");
    breaker.succeeded();
    breaker.failed("three");
    breaker.failed("four");
    expect(() => breaker.admit('server "x"')).not.toThrow();
    expect(breaker.open).toBe(false);
  });

  it("after the open time lets exactly one request try, and opens again for the full time when it fails", () => {
    const { breaker, clock } = breakerAt();
    for (let i = 0; i < 3; i++) breaker.failed("no answer");
    clock.now += 9_000;
    expect(refusal(() => breaker.admit("x")).retryAfterSeconds).toBe(1);
    clock.now += 1_000;
    breaker.admit("x"); // the probe
    expect(refusal(() => breaker.admit("x")).retryAfterSeconds).toBe(10); // everyone else waits for it
    breaker.failed("still no answer");
    const again = refusal(() => breaker.admit("x"));
    expect(again.retryAfterSeconds).toBe(10);
    expect(again.message).toContain("failed 4 times in a row (last: still no answer)");
  });

  it("closes when the probe succeeds", () => {
    const { breaker, clock } = breakerAt();
    for (let i = 0; i < 3; i++) breaker.failed("no answer");
    clock.now += 10_000;
    breaker.admit("x");
    breaker.succeeded();
    expect(breaker.open).toBe(false);
    for (let i = 0; i < 5; i++) expect(() => breaker.admit("x")).not.toThrow();
  });

  it("lets another probe through when one never reports (its client went away)", () => {
    const { breaker, clock } = breakerAt();
    for (let i = 0; i < 3; i++) breaker.failed("no answer");
    clock.now += 10_000;
    breaker.admit("x");
    clock.now += 5_000;
    expect(() => breaker.admit("x")).toThrow(CircuitOpen);
    clock.now += 5_000;
    expect(() => breaker.admit("x")).not.toThrow();
  });

  it("opens once for a burst of failures of requests that were under way together", () => {
    const { breaker } = breakerAt({ failures: 2, openMs: 10_000 });
    expect([1, 2, 3, 4].map(() => breaker.failed("no answer"))).toEqual([false, true, false, false]);
  });

  it("gives the probe's turn back when the probe ends without reaching the upstream", () => {
    const { breaker, clock } = breakerAt();
    for (let i = 0; i < 3; i++) breaker.failed("no answer");
    clock.now += 10_000;
    const probe = breaker.admit("x") as number;
    expect(() => breaker.admit("x")).toThrow(CircuitOpen);
    breaker.probeEnded(probe + 1); // another probe's end changes nothing
    expect(() => breaker.admit("x")).toThrow(CircuitOpen);
    breaker.probeEnded(probe);
    expect(breaker.admit("x")).toBe(probe + 1);
  });

  it("never opens with failures set to 0", () => {
    const { breaker } = breakerAt({ failures: 0, openMs: 10_000 });
    for (let i = 0; i < 50; i++) expect(breaker.failed("no answer")).toBe(false);
    expect(() => breaker.admit("x")).not.toThrow();
  });
});

describe("circuit breaker: what counts as the upstream not answering, and what is sent again", () => {
  const refused = Object.assign(new TypeError("fetch failed"), {
    cause: Object.assign(new Error("connect"), { code: "ECONNREFUSED" }),
  });
  const consent = new UpstreamConsentRequired("crm", async () => new URL("https://consent.example"));
  it.each([
    ["a timeout of the origin's own", new UpstreamTimeout(300_000), true, false],
    ["a refused connection (fetch failed)", refused, true, true],
    ["a reset socket", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), true, true],
    [
      "a 503 of an HTTP upstream",
      new SdkHttpError(SdkErrorCode.ClientHttpNotImplemented, "Service Unavailable", { status: 503 }),
      true,
      true,
    ],
    [
      "a 500 of an HTTP upstream",
      new SdkHttpError(SdkErrorCode.ClientHttpNotImplemented, "Internal", { status: 500 }),
      true,
      false,
    ],
    [
      "a 401 of an HTTP upstream",
      new SdkHttpError(SdkErrorCode.ClientHttpAuthentication, "Unauthorized", { status: 401 }),
      false,
      false,
    ],
    ["a closed connection", new SdkError(SdkErrorCode.ConnectionClosed, "Connection closed"), true, false],
    ["an error the upstream answered with", new ProtocolError(-32602, "unknown tool"), false, false],
    ["a need for the user's consent", consent, false, false],
    [
      "a need for consent inside a send failure",
      new SdkError(SdkErrorCode.SendFailed, "send", undefined, { cause: consent }),
      false,
      false,
    ],
    ["a cancellation", new DOMException("aborted", "AbortError"), false, false],
    ["any other error", new Error("something else"), false, false],
  ])("%s: counted %s, sent again %s", (_case, error, counted, retried) => {
    expect(upstreamUnavailable(error)).toBe(counted);
    expect(worthRetrying(error)).toBe(retried);
  });
});

describe("circuit breaker: in the host pool, with real children", () => {
  const pools: HostPool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.close()));
  });

  function pool(servers: Parameters<typeof createHostPool>[0]["servers"], breaker: BreakerSettings, requestTimeoutMs = 15_000) {
    const spawns: Record<string, number> = {};
    const lines: string[] = [];
    const created = createHostPool({
      servers,
      idleTimeoutMs: 60_000,
      maxProcesses: 10,
      host: { ...testHostOptions, requestTimeoutMs },
      breaker,
      children: (server) => ({
        spawned: () => {
          spawns[server] = (spawns[server] ?? 0) + 1;
        },
        exited: () => {},
      }),
      log: (line) => lines.push(line),
    });
    pools.push(created);
    return { pool: created, spawns, lines };
  }
  const caller = (sub: string, server = "broken") => ({ sub, server, clientId: "test-client", era: "modern" as const });
  const acquireError = async (hosts: HostPool, server: string, sub: string) => {
    try {
      (await hosts.acquire(server, caller(sub, server))).release();
    } catch (error) {
      if (error instanceof HostingError) return error;
      throw error;
    }
    throw new Error("the host was acquired");
  };

  it("stops spawning a child that exits at start, for its user only, and tries once more after the open time", async () => {
    const {
      pool: hosts,
      spawns,
      lines,
    } = pool({ broken: catalogServer({ name: "broken", crash: true }) }, { failures: 3, openMs: 1_000 });
    for (let i = 0; i < 3; i++) expect((await acquireError(hosts, "broken", "alice")).message).toContain("could not be started");
    expect(spawns.broken).toBe(3);

    const refused = await acquireError(hosts, "broken", "alice");
    expect(refused.status).toBe(503);
    expect(refused.retryAfterSeconds).toBe(1);
    expect(refused.message).toMatch(
      /^server "broken" failed 3 times in a row \(last: could not be started: .+\); the origin stops trying/,
    );
    expect(spawns.broken).toBe(3); // refused without a spawn
    expect(lines.some((line) => line.includes("requests for it are refused for 1 s"))).toBe(true);
    expect(lines.join("\n")).not.toContain("alice"); // the log names users by pseudonym only

    // Another user's connection has its own circuit.
    expect((await acquireError(hosts, "broken", "bob")).message).toContain("could not be started");
    expect(spawns.broken).toBe(4);

    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await acquireError(hosts, "broken", "alice")).message).toContain("could not be started"); // the probe
    expect(spawns.broken).toBe(5);
    expect((await acquireError(hosts, "broken", "alice")).message).toContain("failed 4 times in a row");
    expect(spawns.broken).toBe(5);
  });

  it("opens on upstream calls that go unanswered, but not on errors the upstream answers with", async () => {
    const { pool: hosts, spawns } = pool(demoServers(), { failures: 2, openMs: 60_000 }, 300);
    const send = async (method: string, params: Record<string, unknown>) => {
      const lease = await hosts.acquire("everything", caller("carol", "everything"));
      try {
        const response = await lease.host.fetch(modernRequest(method, params), caller("carol", "everything"));
        return (await messagesOf(response)).at(-1) as {
          result?: { isError?: boolean };
          error?: { code: number; message: string };
        };
      } finally {
        lease.release();
      }
    };
    const call = (name: string, args: Record<string, unknown> = {}) => send("tools/call", { name, arguments: args });
    // The upstream answers, with errors (more in a row than the bound): it is there.
    for (let i = 0; i < 3; i++)
      expect((await send("resources/read", { uri: "demo://no-such-resource" })).error?.code).toBeDefined();
    expect((await call("echo", {})).result?.isError).toBe(true); // its arguments are wrong: the upstream says so
    expect((await call("echo", { message: "still closed" })).result?.isError).toBeUndefined();

    // It goes silent past relay.requestTimeoutSeconds (here 0.3 s) twice in a row.
    for (let i = 0; i < 2; i++) {
      const answer = await call("trigger-long-running-operation", { duration: 3, steps: 3 });
      expect(answer.error?.message).toContain("did not answer or report progress");
    }
    const refused = await acquireError(hosts, "everything", "carol");
    expect(refused.status).toBe(503);
    expect(refused.message).toContain('server "everything" failed 2 times in a row (last: the upstream server did not answer');
    expect(spawns.everything).toBe(1);
    // Another user is not refused.
    (await hosts.acquire("everything", caller("dave", "everything"))).release();
  });

  it("says in the operator's line, when it opens, what the start failed on; the callers get its kind only (s24 hunt observability F7)", async () => {
    const missing = { transport: "stdio", command: "/nonexistent/bin/mcp-server", args: [], env: {} } satisfies StdioServer;
    const { pool: hosts, lines } = pool({ missing }, { failures: 2, openMs: 60_000 });
    for (let i = 0; i < 2; i++) await acquireError(hosts, "missing", "alice");
    const refused = await acquireError(hosts, "missing", "alice");
    expect(refused.message).toMatch(/^server "missing" failed 2 times in a row \(last: could not be started[^)]*\)/);
    expect(refused.message).not.toContain("/nonexistent");
    const opened = lines.find((line) => line.includes("or more times in a row")) ?? "";
    expect(opened).toMatch(/failed 2 or more times in a row \(last: could not be started: .*ENOENT/);
  });

  it("opens for a child that starts but dies on every call (a start that works closes nothing)", async () => {
    const crashesOnCall = catalogServer({ name: "brittle", tools: [{ name: "work" }], exitOnCall: true });
    const { pool: hosts, spawns } = pool({ brittle: crashesOnCall }, { failures: 2, openMs: 60_000 });
    const call = async () => {
      const lease = await hosts.acquire("brittle", caller("frank", "brittle"));
      try {
        const request = modernRequest("tools/call", { name: "work", arguments: {} });
        const messages = await messagesOf(await lease.host.fetch(request, caller("frank", "brittle")));
        return messages.at(-1) as { error?: { message: string } };
      } finally {
        lease.release();
      }
    };
    for (let i = 0; i < 2; i++) {
      expect((await call()).error?.message).toMatch(/closed the connection|did not answer/);
      await waitFor(() => hosts.size() === 0); // the dead child is forgotten
    }
    expect((await acquireError(hosts, "brittle", "frank")).message).toContain('server "brittle" failed 2 times in a row');
    expect(spawns.brittle).toBe(2);
  });

  it("does not count the time a call waits for the client's answer (a user slower than relay.requestTimeoutSeconds)", async () => {
    const legacy = { transport: "stdio", env: {}, ...stdioFixtureCommand("legacy") } satisfies StdioServer;
    const { pool: hosts } = pool({ legacy }, { failures: 1, openMs: 60_000 }, 1000);
    const who = caller("grace", "legacy");
    const send = async (params: Record<string, unknown>) => {
      const lease = await hosts.acquire("legacy", who);
      try {
        const request = modernRequest("tools/call", params, { capabilities: { elicitation: { form: {} } } });
        return (await messagesOf(await lease.host.fetch(request, who))).at(-1) as {
          result?: { requestState?: string; content?: { text: string }[] };
          error?: { message: string };
        };
      } finally {
        lease.release();
      }
    };
    const asked = await send({ name: "test_elicitation", arguments: { message: "Proceed?" } });
    expect(asked.result?.requestState).toBeDefined();
    // Three times the upstream's idle limit: the answer comes as the limit is next checked, and the upstream still
    // has a whole period from it.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const done = await send({
      name: "test_elicitation",
      arguments: { message: "Proceed?" },
      requestState: asked.result?.requestState,
      inputResponses: { r1: { action: "accept", content: { response: "yes" } } },
    });
    expect(done.error).toBeUndefined();
    expect(done.result?.content?.[0]?.text).toBeDefined();
    (await hosts.acquire("legacy", who)).release(); // the circuit is closed
  });

  it("answers a refused request with 503, Retry-After and a JSON-RPC error that says why", async () => {
    const { pool: hosts } = pool({ broken: catalogServer({ name: "broken", crash: true }) }, { failures: 1, openMs: 30_000 });
    const origin = await originUnderTest({ parts: { pool: hosts } });
    const claims = { sub: "erin", client_id: "c", server: "broken", purpose: "mcp", instance: TEST_INSTANCE };
    const send = async () => {
      const request = modernRequest("tools/call", { name: "x" });
      const init = { method: "POST", headers: request.headers, body: await request.text() };
      return origin.call("/servers/broken/mcp", init, claims);
    };

    const first = await send();
    expect(first.status).toBe(503);
    expect(first.headers.get("retry-after")).toBeNull();
    const refused = await send();
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(29);
    const body = (await refused.json()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32000);
    expect(body.error.message).toContain('server "broken" failed once in a row');
  });
});
