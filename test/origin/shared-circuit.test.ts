import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { BreakerSettings } from "../../aws/origin/hosting/circuit-breaker.ts";
import { upstreamCircuits } from "../../aws/origin/hosting/circuits.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { HostingError } from "../../aws/origin/hosting/hosting-error.ts";
import type { HttpServer, StdioServer } from "../../contract/config/schema.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import type { CatalogSpec } from "../fixtures/catalog-upstream/server.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// A shared server's (sharing: "shared") one connection serves every user of the origin instance: one user's requests
// that fail by themselves (a timeout, an over-large answer, an input that makes the child exit) must not open its
// circuit for the others (s21 I2, s23 N2), while the connection's own failures (a child that cannot start, one that
// dies on everyone's calls) still do; per-user servers are unchanged. A request's failure counts in the shared circuit
// once per user, so an upstream failing everyone's calls (an HTTP gateway answering 503) still opens it (s21 R2).

const BREAKER: BreakerSettings = { failures: 2, openMs: 60_000 };
const LIMIT = 64 * 1024;

const pools: HostPool[] = [];
const upstreams: Server[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
  for (const server of upstreams) server.closeAllConnections();
  await Promise.all(upstreams.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

function poolOf(server: StdioServer | HttpServer, requestTimeoutMs: number, breaker = BREAKER) {
  const spawns = { count: 0 };
  const hosts = createHostPool({
    servers: { s: server },
    idleTimeoutMs: 60_000,
    maxProcesses: 10,
    host: { ...testHostOptions, requestTimeoutMs, maxMessageBytes: LIMIT },
    breaker,
    children: () => ({ spawned: () => void spawns.count++, exited: () => {} }),
    log: () => {},
  });
  pools.push(hosts);
  return { hosts, spawns };
}

const caller = (sub: string) => ({ sub, server: "s", clientId: "test-client", era: "modern" as const });
const shared = (spec: CatalogSpec): StdioServer => ({ ...catalogServer(spec), sharing: "shared" });
const search = (args: Record<string, unknown> = {}) => ["tools/call", { name: "search", arguments: args }] as const;
const complete = [
  "completion/complete",
  { ref: { type: "ref/resource", uri: "sh://{id}" }, argument: { name: "id", value: "x" } },
] as const;

interface Answer {
  result?: { content?: { text: string }[] };
  error?: { message: string; data?: unknown };
}

/** One request of `sub`'s; a refusal of the pool comes back as the HostingError. */
async function send(hosts: HostPool, sub: string, [method, params]: readonly [string, Record<string, unknown>]) {
  let lease: Awaited<ReturnType<HostPool["acquire"]>>;
  try {
    lease = await hosts.acquire("s", caller(sub));
  } catch (error) {
    if (error instanceof HostingError) return error;
    throw error;
  }
  try {
    return (await messagesOf(await lease.host.fetch(modernRequest(method, params), caller(sub)))).at(-1) as Answer;
  } finally {
    lease.release();
  }
}

const waitFor = async (condition: () => boolean) => {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const slowSpec = { name: "s", tools: [{ name: "search" }], templateScheme: "sh", completionDelayMs: 3_000 };

describe("circuit breaker: a shared server's circuit and one user's failing requests", () => {
  it("refuses the user whose requests time out, and no one else", async () => {
    const { hosts, spawns } = poolOf(shared(slowSpec), 1_000);
    expect(((await send(hosts, "bob", search())) as Answer).result?.content?.[0]?.text).toContain("search on s");
    const timeouts = await Promise.all([0, 1, 2].map(() => send(hosts, "mallory", complete)));
    for (const answer of timeouts) {
      expect((answer as Answer).error?.message).toContain("did not answer or report progress");
      // The origin's own error, marked so that the request is audited unavailable (s24 hunt observability F6).
      expect((answer as Answer).error?.data).toEqual({ upstreamUnanswered: true });
    }

    const refused = await send(hosts, "mallory", search());
    expect(refused).toBeInstanceOf(HostingError);
    expect((refused as HostingError).status).toBe(503);
    expect((refused as HostingError).message).toMatch(/^server "s" \(your requests on it\) failed \d times in a row/);
    // Another user is served, on the same connection.
    expect(((await send(hosts, "bob", search())) as Answer).result?.content?.[0]?.text).toContain("search on s");
    expect(spawns.count).toBe(1);
  });

  it("leaves an error the upstream answered unmarked: it is the upstream's, audited error", async () => {
    const { hosts } = poolOf(shared({ name: "s", tools: [{ name: "search" }], errorMessage: "quota exceeded" }), 15_000);
    const answer = (await send(hosts, "bob", search())) as Answer;
    expect(answer.error?.message).toContain("quota exceeded");
    expect(answer.error?.data).toEqual({ detail: "quota exceeded" }); // as the upstream sent it, unmarked
  });

  it("keeps a per-user server's behaviour: its user's timeouts open that user's connection's circuit", async () => {
    const { hosts } = poolOf(catalogServer(slowSpec), 1_000);
    for (let i = 0; i < 2; i++)
      expect(((await send(hosts, "mallory", complete)) as Answer).error?.message).toContain("did not answer");
    const refused = await send(hosts, "mallory", search());
    expect((refused as HostingError).message).toMatch(
      /^server "s" failed 2 times in a row \(last: the upstream server did not answer/,
    );
    expect(((await send(hosts, "bob", search())) as Answer).result?.content?.[0]?.text).toContain("search on s");
  });

  it("still opens for every user when the shared child dies on everyone's calls", async () => {
    const { hosts, spawns } = poolOf(shared({ name: "s", tools: [{ name: "search" }], exitOnCall: true }), 15_000);
    for (const sub of ["mallory", "bob"]) {
      expect(((await send(hosts, sub, search())) as Answer).error?.message).toMatch(/closed the connection|exited/);
      await waitFor(() => hosts.size() === 0);
    }
    const refused = await send(hosts, "carol", search());
    expect((refused as HostingError).message).toMatch(/^server "s" failed 2 times in a row/);
    expect(spawns.count).toBe(2);
  });

  it("still opens for every user when the shared server cannot start", async () => {
    const { hosts } = poolOf(shared({ name: "s", crash: true }), 15_000);
    for (const sub of ["mallory", "mallory"])
      expect((await send(hosts, sub, search())) as HostingError).toBeInstanceOf(HostingError);
    expect(((await send(hosts, "bob", search())) as HostingError).message).toMatch(/^server "s" failed 2 times in a row/);
  });

  it("counts a shared child's exit on one user's input once, however many calls of others it ended (s23 N2)", async () => {
    const spec = { ...slowSpec, completionDelayMs: 1_000, exitOnText: "crash" };
    const { hosts, spawns } = poolOf(shared(spec), 15_000);
    for (const bystander of ["bob", "carol"]) {
      // Calls of another user in flight (sent first: the first to report the closing) when Mallory's input makes the
      // child exit: they end with it.
      const inFlight = [send(hosts, bystander, complete), send(hosts, bystander, complete)];
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(((await send(hosts, "mallory", search({ text: "crash" }))) as Answer).error?.message).toMatch(/exited/);
      for (const answer of await Promise.all(inFlight)) expect((answer as Answer).error?.message).toMatch(/exited/);
      await waitFor(() => hosts.size() === 0);
    }
    // Two closings: Mallory's own circuit counted both (refused); Bob's and Carol's one each; the shared circuit once,
    // since Mallory's calls were ended by both: the server still serves everyone else.
    expect(((await send(hosts, "mallory", search())) as HostingError).message).toMatch(/\(your requests on it\) failed 2 times/);
    for (const sub of ["dave", "bob", "carol"])
      expect(((await send(hosts, sub, search())) as Answer).result?.content?.[0]?.text, sub).toContain("search on s");
    expect(spawns.count).toBe(3);
  });

  it("blames a shared child's exit on every request it had not answered, not on the last one written, and refuses nobody else (s24 review R1)", async () => {
    const callLog = join(mkdtempSync(join(tmpdir(), "shared-circuit-")), "calls.log");
    const logged = (line: string) =>
      existsSync(callLog)
        ? readFileSync(callLog, "utf8")
            .split("\n")
            .filter((each) => each === line).length
        : 0;
    const spec = { ...slowSpec, callLog, completionDelayMs: 10_000, exitOnText: "crash", exitDelayMs: 1_500 };
    const { hosts } = poolOf(shared(spec), 15_000);
    for (const [round, bystander] of ["bob", "carol"].entries()) {
      // The child reads Mallory's input, and exits a moment later: meanwhile another user's call is written after
      // hers, so the last request written before the exit is a bystander's.
      const mallorys = send(hosts, "mallory", search({ text: "crash" }));
      await expect.poll(() => logged("exiting"), { timeout: 10_000 }).toBe(round + 1);
      const theirs = send(hosts, bystander, complete);
      await expect.poll(() => logged("complete"), { timeout: 10_000 }).toBe(round + 1);
      expect(((await mallorys) as Answer).error?.message).toMatch(/exited/);
      expect(((await theirs) as Answer).error?.message).toMatch(/exited/);
      await waitFor(() => hosts.size() === 0);
    }
    // Mallory is a suspect of both closings: refused. The shared circuit counted one (she was in both), so the server
    // serves Dave, and Bob and Carol, each a suspect once.
    expect(((await send(hosts, "mallory", search())) as HostingError).message).toMatch(/\(your requests on it\) failed 2 times/);
    for (const sub of ["dave", "bob", "carol"])
      expect(((await send(hosts, sub, search())) as Answer).result?.content?.[0]?.text, sub).toContain("search on s");
  });

  it("decides a closing once, by all its suspects, whichever call reports it first", () => {
    const circuits = upstreamCircuits({ breaker: BREAKER, log: () => {} });
    const health = circuits.healthOf("s", "s", true);
    // Twice Mallory's input closes the connection with another user's call unanswered, theirs reporting first; her own
    // call was cancelled the second time, so only theirs report it.
    for (const [reporters, suspects] of [
      [
        ["bob", "bob", "mallory"],
        ["bob", "mallory"],
      ],
      [["carol"], ["carol", "mallory"]],
    ]) {
      const closing = {};
      for (const user of reporters ?? []) health.failed("exited", { user, scope: "closed", closing, suspects });
    }
    expect(() => circuits.admit("s", "s")).not.toThrow();
    for (const user of ["bob", "carol", "dave"]) expect(() => circuits.admitUser("s", user, "s", undefined), user).not.toThrow();
    expect(() => circuits.admitUser("s", "mallory", "s", undefined)).toThrow(/\(your requests on it\) failed 2 times/);
  });

  it("opens again when its probe fails, whoever's it is: a dead shared child is not started for each next request (s23 review C5)", async () => {
    const circuits = upstreamCircuits({ breaker: { failures: 2, openMs: 100 }, log: () => {} });
    const health = circuits.healthOf("s", "s", true);
    for (const user of ["a", "b"]) health.failed("exited", { user, scope: "closed", closing: {}, suspects: [user] });
    expect(() => circuits.admit("s", "s")).toThrow(/failed 2 times/);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const probe = circuits.admit("s", "s") as number;
    expect(probe).toBeDefined();
    // The probe's call, of a user counted already, ends with the child; its lease then gives the probe back.
    health.failed("exited", { user: "a", scope: "closed", closing: {}, suspects: ["a"] });
    circuits.probeEnded("s", probe, "a");
    expect(() => circuits.admit("s", "s")).toThrow(/failed 3 times/);
  });

  it("remembers a first user's failure past the reaper's tick with breakerFailures 1 (s23 review C4)", () => {
    const circuits = upstreamCircuits({ breaker: { failures: 1, openMs: 60_000 }, log: () => {} });
    const health = circuits.healthOf("s", "s", true);
    health.failed("503", { user: "a", scope: "request" });
    expect(() => circuits.admit("s", "s")).not.toThrow(); // one user alone opens nothing for the others
    circuits.forgetQuiet(60_000); // the pool's reaper, which ran between the two users' failures
    health.failed("503", { user: "b", scope: "request" });
    expect(() => circuits.admit("s", "s")).toThrow(/failed/);
  });

  it("counts one user's over-large answers, which close the shared connection, once against the others", async () => {
    const { hosts, spawns } = poolOf(shared({ ...slowSpec, completionDelayMs: 1_000 }), 15_000);
    const big = search({ text: "x".repeat(LIMIT * 2) });
    // Bob's call in flight when Mallory's answer passes the bound ends with the connection (documented).
    const bobs = send(hosts, "bob", complete);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(((await send(hosts, "mallory", big)) as Answer).error?.message).toContain("over the");
    expect(((await bobs) as Answer).error?.message).toContain("over the");
    await waitFor(() => hosts.size() === 0);
    expect(((await send(hosts, "mallory", big)) as Answer).error?.message).toContain("over the");
    await waitFor(() => hosts.size() === 0);

    // Mallory, failed twice in a row, is refused; Bob is not: the shared circuit counted the closings once.
    expect(((await send(hosts, "mallory", big)) as HostingError).message).toMatch(/\(your requests on it\) failed 2 times/);
    expect(((await send(hosts, "bob", search())) as Answer).result?.content?.[0]?.text).toContain("search on s");
    expect(spawns.count).toBe(3);
  });
});

/**
 * An HTTP MCP server (2025-06-18, JSON answers) behind a gateway that answers a tools/call 503 when its arguments say
 * `down` (the server down behind its own gateway, for whoever asks); `calls` counts the calls that reached it.
 */
async function gatewayUpstream() {
  const calls = { count: 0 };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      if (req.method !== "POST") return void res.writeHead(405).end();
      const message = JSON.parse(body);
      if (message.id === undefined) return void res.writeHead(202).end();
      const answer = (result: unknown) =>
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ jsonrpc: "2.0", id: message.id, result }));
      if (message.method === "initialize")
        return answer({ protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "gw", version: "1" } });
      if (message.method === "tools/list") return answer({ tools: [{ name: "search", inputSchema: { type: "object" } }] });
      if (message.method !== "tools/call") return answer({});
      calls.count++;
      if (message.params?.arguments?.down) return void res.writeHead(503).end("Service Unavailable");
      answer({ content: [{ type: "text", text: "search on gw" }] });
    });
  });
  upstreams.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const spec: HttpServer = {
    transport: "http",
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    protocol: "streamable-http",
    identity: "none",
    headers: {},
    sharing: "shared",
  } as HttpServer;
  return { spec, calls };
}

const text = (answer: unknown) => (answer as Answer).result?.content?.[0]?.text;

describe("circuit breaker: a shared HTTP upstream that fails everyone's requests (s21 R2)", () => {
  it("opens the shared circuit when two users' calls get 503: a third is refused without reaching the upstream", async () => {
    const { spec, calls } = await gatewayUpstream();
    const { hosts } = poolOf(spec, 15_000);
    expect(text(await send(hosts, "carol", search()))).toBe("search on gw");
    for (const sub of ["alice", "bob"])
      expect(((await send(hosts, sub, search({ down: true }))) as Answer).error?.message).toContain("503");
    const reached = calls.count;

    const refused = await send(hosts, "carol", search());
    expect(refused).toBeInstanceOf(HostingError);
    expect((refused as HostingError).message).toMatch(/^server "s" failed 2 times in a row/);
    expect(calls.count).toBe(reached);
  });

  it("does not open it for the others when one user alone gets 503s", async () => {
    const { spec, calls } = await gatewayUpstream();
    const { hosts } = poolOf(spec, 15_000);
    for (let i = 0; i < 2; i++)
      expect(((await send(hosts, "mallory", search({ down: true }))) as Answer).error?.message).toContain("503");
    expect(((await send(hosts, "mallory", search())) as HostingError).message).toMatch(/\(your requests on it\) failed 2 times/);
    const reached = calls.count;
    expect(text(await send(hosts, "bob", search()))).toBe("search on gw");
    expect(calls.count).toBe(reached + 1);
  });

  it("with breakerFailures 1, still needs a second user's 503 to open it for the others", async () => {
    const { spec, calls } = await gatewayUpstream();
    const { hosts } = poolOf(spec, 15_000, { failures: 1, openMs: 60_000 });
    expect(((await send(hosts, "mallory", search({ down: true }))) as Answer).error?.message).toContain("503");
    expect(((await send(hosts, "mallory", search())) as HostingError).message).toMatch(/\(your requests on it\) failed once/);
    expect(((await send(hosts, "alice", search({ down: true }))) as Answer).error?.message).toContain("503");
    const reached = calls.count;
    expect(((await send(hosts, "bob", search())) as HostingError).message).toMatch(/^server "s" failed once/);
    expect(calls.count).toBe(reached);
  });
});
