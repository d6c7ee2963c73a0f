import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { demoServers } from "../../local/system.ts";
import { startTestSystem } from "../e2e/local-system.ts";
import { InMemoryOAuthProvider } from "../e2e/oauth-client.ts";

/**
 * `npm run bench`: latency of a tools/call through the whole proxy (edge in wrangler dev, origin, stdio upstream)
 * against the same upstream reached directly over stdio, in the same run, as a ratio. Nothing here is asserted.
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
  const proxied = await proxiedClient(new URL(`${system.edgeUrl}/mcp/everything`));
  console.log(`warming up, then ${CALLS} sequential tools/call echo each way…`);
  await timeCalls(direct, WARMUP);
  await timeCalls(proxied, WARMUP);
  const directStats = summarize(await timeCalls(direct, CALLS));
  const proxiedStats = summarize(await timeCalls(proxied, CALLS));
  const row = (name: string, s: ReturnType<typeof summarize>) =>
    `${name.padEnd(34)} p50 ${s.p50.toFixed(2).padStart(7)} ms   p95 ${s.p95.toFixed(2).padStart(7)} ms   mean ${s.mean.toFixed(2).padStart(7)} ms`;
  console.log(row("direct (stdio)", directStats));
  console.log(row(`through the proxy (${proxied.getNegotiatedProtocolVersion()})`, proxiedStats));
  console.log(
    `ratio proxy/direct: p50 ${(proxiedStats.p50 / directStats.p50).toFixed(1)}x   p95 ${(proxiedStats.p95 / directStats.p95).toFixed(1)}x`,
  );
  console.log(`added latency at p50: ${(proxiedStats.p50 - directStats.p50).toFixed(2)} ms`);
  await direct.close();
  await proxied.close();
} finally {
  await system.close();
}
