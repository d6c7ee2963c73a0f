// 1,000 users on two origin instances: a bounded load test on loopback (npm run bench:scale).
// Two origins (`node aws/origin/main.ts`, each a process of its own) behind the local balancer (local/balancer.ts, the
// ALB's round robin and cookie stickiness), one PostgreSQL (PGlite unless DATABASE_URL is set). Users arrive evenly over
// the run; each makes `--calls` `tools/call echo` requests to /servers/everything/mcp, `--think-ms` apart, each under a
// fresh edge assertion signed here as the edge signs it (bound to the user's instance once known, with the balancer's
// cookie), and checks each answer is its own echo. Prints errors, p50/p99 and each origin's memory.
// Usage: npm run bench:scale -- [--users 1000] [--seconds 300] [--calls 20] [--think-ms 500] [--sharing shared|per-user]
//   [--max-children N] (stdio.maxProcesses per origin; default 10 shared, 40 per-user)
// Quick run: npm run bench:scale -- --users 100 --seconds 20
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, createServer, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { listen } from "../../aws/origin/listen.ts";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import { EDGE_ASSERTION_HEADER, EDGE_JWKS_PATH } from "../../contract/edge-assertion.ts";
import { ORIGIN_INSTANCE_HEADER } from "../../contract/origin-affinity.ts";
import { startBalancer } from "../../local/balancer.ts";
import { startEmbeddedPostgres } from "../../local/embedded-postgres.ts";
import { freePort } from "../../local/free-port.ts";
import { demoServers } from "../../local/system.ts";
import { generateEdgeSigningKey } from "../../scripts/keygen.ts";
import { signAssertion } from "../../worker/upstream/sign-assertion.ts";
import { descendantsOf } from "../e2e/process-tree.ts";
import { modernRequest } from "../origin/modern-request.ts";
import { memoryOf } from "./process-memory.ts";

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "1000" },
    seconds: { type: "string", default: "300" },
    calls: { type: "string", default: "20" },
    "think-ms": { type: "string", default: "500" },
    sharing: { type: "string", default: "shared" },
    "max-children": { type: "string" },
  },
});
const USERS = Number(values.users);
const SECONDS = Number(values.seconds);
const CALLS = Number(values.calls);
const THINK_MS = Number(values["think-ms"]);
const SHARING = values.sharing === "per-user" ? "per-user" : "shared";
const ORIGINS = 2;
/** stdio.maxProcesses per origin: with per-user children, the bound and its least-recently-used eviction are exercised. */
const MAX_CHILDREN = Number(values["max-children"] ?? (SHARING === "shared" ? 10 : 40));

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The edge's public key where the origins fetch it (a Worker serves it in production). */
async function serveEdgeJwks(signingKey: string): Promise<{ url: string; close(): void }> {
  const { d: _private, ...publicKey } = JSON.parse(signingKey) as Record<string, string>;
  const body = JSON.stringify({ keys: [{ ...publicKey, use: "sig" }] });
  const server = createServer((request, response) => {
    response.writeHead(request.url === EDGE_JWKS_PATH ? 200 : 404, { "content-type": "application/json" });
    response.end(body);
  });
  const port = await listen(server, 0, "127.0.0.1", "the bench's JWKS port");
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** One origin instance in a process of its own, configured through the environment as on ECS. */
async function startOriginProcess(env: Record<string, string>): Promise<ChildProcess> {
  const main = fileURLToPath(new URL("../../aws/origin/main.ts", import.meta.url));
  const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: "pipe" });
  let output = "";
  const onData = (chunk: Buffer) => {
    output += chunk.toString("utf8");
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", () => output.includes("origin listening on") && resolve());
    child.once("exit", (code) => reject(new Error(`origin exited with ${code}:\n${output}`)));
  });
  // Its log is read on (a full pipe would stall it) but no longer kept.
  child.stdout?.off("data", onData);
  child.stderr?.off("data", onData);
  child.stderr?.resume();
  return child;
}

async function database(): Promise<{ url: string; poolMax: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, poolMax: "10", stop: async () => {} };
  const dataDir = await mkdtemp(join(tmpdir(), "mcp-bench-scale-"));
  const embedded = await startEmbeddedPostgres({ dataDir, port: 0 });
  const stop = async () => {
    await embedded.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  return { url: embedded.url, poolMax: "1", stop };
}

interface Results {
  latencies: number[];
  errors: Map<string, number>;
  usersByInstance: Map<string, number>;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/**
 * One call as the edge relays it (worker/upstream/fetch-origin.ts): a 2026-07-28 request, a fresh assertion, the
 * user's balancer cookie; refused as misdirected (421: the balancer moved the user to another instance), it is sent
 * once more, bound to the instance that answered.
 */
async function call(balancerUrl: string, config: EdgeConfig, user: User, n: number): Promise<void> {
  const message = `${user.claims.sub} call ${n}`;
  let answer = await sendOnce(balancerUrl, config, user, n, message);
  if (answer.status === MISDIRECTED && answer.instance) answer = await sendOnce(balancerUrl, config, user, n, message);
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.text.slice(0, 200)}`);
  if (!answer.text.includes(`Echo: ${message}`)) throw new Error(`not this call's echo: ${answer.text.slice(0, 200)}`);
}

const MISDIRECTED = 421;

/** Sends one call and learns from the answer, as the edge does, the instance and cookie the user is now bound to. */
async function sendOnce(
  balancerUrl: string,
  config: EdgeConfig,
  user: User,
  n: number,
  message: string,
): Promise<{ status: number; text: string; instance?: string }> {
  const template = modernRequest("tools/call", { name: "echo", arguments: { message } }, { id: n });
  const body = await template.text();
  const headers: Record<string, string> = {};
  template.headers.forEach((value, name) => {
    headers[name] = value;
  });
  headers[EDGE_ASSERTION_HEADER] = await signAssertion(config, user.claims);
  if (user.cookie) headers.cookie = user.cookie;
  const url = new URL(`${balancerUrl}/servers/everything/mcp`);
  const answer = await new Promise<{ status: number; text: string; instance?: string; cookie?: string }>((resolve, reject) => {
    const outgoing = httpRequest(url, { method: "POST", headers, agent }, (incoming) => {
      let text = "";
      incoming.setEncoding("utf8");
      incoming.on("data", (chunk: string) => {
        text += chunk;
      });
      incoming.on("end", () => {
        const sticky = [incoming.headers["set-cookie"] ?? []].flat().find((cookie) => cookie.startsWith("AWSALBAPP-"));
        const instance = incoming.headers[ORIGIN_INSTANCE_HEADER] as string | undefined;
        resolve({ status: incoming.statusCode ?? 0, text, instance, cookie: sticky?.split(";")[0] });
      });
    });
    outgoing.on("error", reject);
    outgoing.end(body);
  });
  user.cookie = answer.cookie ?? user.cookie;
  user.claims.instance = answer.instance ?? user.claims.instance;
  return answer;
}

interface User {
  claims: { sub: string; client_id: string; server: string; instance?: string };
  cookie?: string;
}

async function runUser(index: number, balancerUrl: string, config: EdgeConfig, results: Results, calls = CALLS): Promise<void> {
  const user: User = { claims: { sub: `scale-user-${index}`, client_id: "bench-scale", server: "everything" } };
  for (let n = 1; n <= calls; n++) {
    const started = performance.now();
    try {
      await call(balancerUrl, config, user, n);
      results.latencies.push(performance.now() - started);
    } catch (error) {
      const reason = (error as Error).message.slice(0, 120);
      results.errors.set(reason, (results.errors.get(reason) ?? 0) + 1);
    }
    if (n < calls) await pause(THINK_MS);
  }
  const instance = user.claims.instance ?? "none";
  results.usersByInstance.set(instance, (results.usersByInstance.get(instance) ?? 0) + 1);
}

/** Memory of an origin process and of its upstream children, sampled through the run (the largest kept). */
function memorySampler(origins: ChildProcess[]) {
  const peak = origins.map(() => ({ first: 0, origin: 0, children: 0, childCount: 0 }));
  const sample = async () => {
    for (const [index, origin] of origins.entries()) {
      const own = await memoryOf(origin.pid as number).catch(() => ({ rss: 0, pss: 0 }));
      const children = await Promise.all(
        descendantsOf(origin.pid as number).map((pid) => memoryOf(pid).catch(() => ({ rss: 0, pss: 0 }))),
      );
      const entry = peak[index] as (typeof peak)[number];
      entry.first ||= own.rss;
      entry.origin = Math.max(entry.origin, own.rss);
      entry.children = Math.max(
        entry.children,
        children.reduce((sum, child) => sum + child.rss, 0),
      );
      entry.childCount = Math.max(entry.childCount, children.length);
    }
  };
  const timer = setInterval(() => void sample(), 2000);
  return { peak, sample, stop: () => clearInterval(timer) };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

const db = await database();
const signingKey = await generateEdgeSigningKey();
const jwks = await serveEdgeJwks(signingKey);
const balancerPort = await freePort();
const balancerUrl = `http://127.0.0.1:${balancerPort}`;
const everything = demoServers().everything;
const originPorts = await Promise.all(Array.from({ length: ORIGINS }, () => freePort()));
// One after the other: the first applies the database migrations (PGlite's advisory locks exclude nothing).
const origins: ChildProcess[] = [];
process.once("exit", () => {
  for (const origin of origins) origin.kill("SIGKILL");
});
for (const [index, port] of originPorts.entries()) {
  origins.push(
    await startOriginProcess({
      PORT: String(port),
      ORIGIN_PUBLIC_URL: balancerUrl,
      EDGE_ISSUER: jwks.url,
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: db.poolMax,
      MCP_SERVERS: JSON.stringify({ everything: { ...everything, sharing: SHARING } }),
      ORIGIN_INSTANCE_ID: `scale-origin-${index + 1}`,
      REQUEST_STATE_KEY: "bench-scale-request-state-key-0123456789",
      STDIO_MAX_PROCESSES: String(MAX_CHILDREN),
    }),
  );
}
const balancer = await startBalancer({
  port: balancerPort,
  targets: originPorts.map((port) => `http://127.0.0.1:${port}`),
  log: () => {},
});
const config = { signingKey, publicUrl: jwks.url, originUrl: balancerUrl } as EdgeConfig;

console.log(
  `scale: ${USERS} users over ${SECONDS} s, ${CALLS} calls each ${THINK_MS} ms apart, ${ORIGINS} origins behind the balancer, upstream server-everything (sharing ${SHARING}, at most ${MAX_CHILDREN} children per origin), database ${process.env.DATABASE_URL ? "DATABASE_URL" : "PGlite"}`,
);
// One call per instance first (round robin gives each one user): the shared child starts, the edge keys are fetched;
// what the warm start at sign-in does for a user's first call in the product.
const warmUp: Results = { latencies: [], errors: new Map(), usersByInstance: new Map() };
await Promise.all(Array.from({ length: ORIGINS }, (_, index) => runUser(-1 - index, balancerUrl, config, warmUp, 1)));
if (warmUp.errors.size > 0) throw new Error(`the warm-up failed: ${[...warmUp.errors.keys()].join("; ")}`);
const results: Results = { latencies: [], errors: new Map(), usersByInstance: new Map() };
const memory = memorySampler(origins);
const started = performance.now();
const sessions: Promise<void>[] = [];
for (let index = 0; index < USERS; index++) {
  const due = (index * SECONDS * 1000) / USERS;
  const wait = due - (performance.now() - started);
  if (wait > 0) await pause(wait);
  sessions.push(runUser(index, balancerUrl, config, results));
}
await Promise.all(sessions);
const elapsed = (performance.now() - started) / 1000;
await memory.sample();
memory.stop();

const sorted = [...results.latencies].sort((a, b) => a - b);
const errors = [...results.errors.values()].reduce((sum, count) => sum + count, 0);
console.log(
  `${results.latencies.length + errors} calls in ${elapsed.toFixed(0)} s (${((results.latencies.length + errors) / elapsed).toFixed(1)} req/s): ${errors} errors`,
);
for (const [reason, count] of results.errors) console.log(`  ${count} × ${reason}`);
console.log(
  `latency ms: p50 ${percentile(sorted, 0.5).toFixed(1)}, p90 ${percentile(sorted, 0.9).toFixed(1)}, p99 ${percentile(sorted, 0.99).toFixed(1)}, max ${(sorted.at(-1) ?? 0).toFixed(1)}`,
);
console.log(`users per instance: ${[...results.usersByInstance].map(([name, count]) => `${name} ${count}`).join(", ")}`);
for (const [index, peak] of memory.peak.entries()) {
  console.log(
    `origin ${index + 1}: RSS ${peak.first.toFixed(0)} MiB at the start, peak ${peak.origin.toFixed(0)} MiB; its upstream children: at most ${peak.childCount}, peak RSS ${peak.children.toFixed(0)} MiB`,
  );
}

await balancer.close();
await Promise.all(
  origins.map(
    (origin) =>
      new Promise<void>((resolve) => {
        origin.once("exit", () => resolve());
        origin.kill("SIGTERM");
      }),
  ),
);
agent.destroy();
jwks.close();
await db.stop();
process.exit(errors === 0 ? 0 : 1);
