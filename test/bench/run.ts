import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { EDGE_ENV_NAMES } from "../../contract/config/env-names.ts";
import { loadConfig } from "../../contract/config/load.ts";
import { EdgeConfig } from "../../contract/config/schema.ts";
import { EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { demoServers } from "../../local/system.ts";
import { signAssertion } from "../../worker/upstream/sign-assertion.ts";
import { startTestSystem } from "../e2e/local-system.ts";
import { InMemoryOAuthProvider } from "../e2e/oauth-client.ts";

/**
 * `npm run bench`: latency of a tools/call through the whole proxy (edge in wrangler dev, origin, stdio upstream)
 * against the same upstream reached directly over stdio, in the same run, as a ratio. A middle row calls the
 * origin directly with assertions signed in this process, to tell the edge's share from the origin's.
 * Nothing here is asserted.
 */
const WARMUP = 20;
const CALLS = Number(process.env.BENCH_CALLS ?? 300);

async function timeCalls(client: Client, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await client.callTool({ name: "echo", arguments: { message: `call ${i}` } });
    samples.push(performance.now() - started);
  }
  return samples;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

function summarize(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

async function directClient(): Promise<Client> {
  const spec = demoServers().everything;
  if (!spec) throw new Error("the demo server is missing");
  const client = new Client({ name: "bench-direct", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command: spec.command, args: spec.args, stderr: "ignore" }));
  return client;
}

/** A client of the origin itself, signing a fresh edge assertion for every request as the edge does. */
async function originClient(originUrl: string, edgeEnvFile: string): Promise<Client> {
  const env = Object.fromEntries(
    (await readFile(edgeEnvFile, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 2, -1)]),
  );
  const config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env });
  const claims = { sub: "bench-user", client_id: "bench", server: "everything" };
  const signingFetch: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set(EDGE_ASSERTION_HEADER, await signAssertion(config, claims));
    return fetch(input, { ...init, headers });
  };
  const client = new Client({ name: "bench-origin", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${originUrl}/servers/everything/mcp`), { fetch: signingFetch }),
  );
  return client;
}

async function proxiedClient(mcpUrl: URL): Promise<Client> {
  const provider = new InMemoryOAuthProvider();
  const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await new Client({ name: "bench-proxied", version: "1.0.0" }).connect(first).catch(() => {});
  await first.finishAuth(await provider.signInHeadlessly());
  const client = new Client({ name: "bench-proxied", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  return client;
}

console.log(`starting the local system (edge, origin, embedded PostgreSQL, IdP)…`);
const system = await startTestSystem();
try {
  const direct = await directClient();
  const origin = await originClient(system.originUrl, join(system.dataDir, "edge.env"));
  const proxied = await proxiedClient(new URL(`${system.edgeUrl}/mcp/everything`));
  console.log(`warming up, then ${CALLS} sequential tools/call echo each way…`);
  for (const client of [direct, origin, proxied]) await timeCalls(client, WARMUP);
  const directStats = summarize(await timeCalls(direct, CALLS));
  const originStats = summarize(await timeCalls(origin, CALLS));
  const proxiedStats = summarize(await timeCalls(proxied, CALLS));
  const row = (name: string, s: ReturnType<typeof summarize>) =>
    `${name.padEnd(38)} p50 ${s.p50.toFixed(2).padStart(7)} ms   p95 ${s.p95.toFixed(2).padStart(7)} ms   mean ${s.mean.toFixed(2).padStart(7)} ms`;
  console.log(row("direct (stdio)", directStats));
  console.log(row("origin only (assertion signed here)", originStats));
  console.log(row(`through the proxy (${proxied.getNegotiatedProtocolVersion()})`, proxiedStats));
  const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
  console.log(
    `ratio proxy/direct: p50 ${ratio(proxiedStats.p50, directStats.p50)}   p95 ${ratio(proxiedStats.p95, directStats.p95)}`,
  );
  const added = (from: number, to: number) => `${(to - from).toFixed(2)} ms`;
  console.log(
    `added at p50: ${added(directStats.p50, proxiedStats.p50)} in all; origin ${added(directStats.p50, originStats.p50)}, edge ${added(originStats.p50, proxiedStats.p50)}`,
  );
  for (const client of [direct, origin, proxied]) await client.close();
} finally {
  await system.close();
}
