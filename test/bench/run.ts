import { join } from "node:path";
import { wranglerDevEnv } from "../../local/wrangler-dev.ts";
import { legacyClient, modernClient, originClient, plainSession, signIn } from "./clients.ts";
import type { BenchClient } from "./load.ts";
import { type Row, runMatrix } from "./matrix.ts";
import { cpuMsOfTree } from "./process-cpu.ts";
import { startPassthroughWorker, startSupergateway, startSystemProcess } from "./processes.ts";

/**
 * `npm run bench`: p50/p99 latency and requests/s of `tools/call echo` (the demo upstream, server-everything) at
 * several concurrencies, all rows in one run, interleaved round by round:
 *   A  supergateway 4 (stateful Streamable HTTP) → stdio server, reached directly;
 *   B  a bare pass-through Worker on the same wrangler → A;
 *   O  the origin directly (assertions signed here) → the user's stdio child: the origin's share of C;
 *   C  a 2026-07-28 client (SDK v2) → edge → origin → stdio child;
 *   D  a 2025-11-25 client (SDK v1) → edge → its session object → origin → stdio child.
 * With N clients, each has its own session where the row has sessions (A, B, D); C and O have none. It prints
 * the medians over the rounds, the ratios issue 6 states its targets in, and the CPU per call of the processes
 * serving each row (from /proc, Linux), for issue 13's "origin at most supergateway's CPU per call". Nothing here
 * is asserted.
 *
 * BENCH_CONCURRENCY (1,8,32)  BENCH_SECONDS (3, timed per cell)  BENCH_WARMUP_SECONDS (1)  BENCH_ROUNDS (3)
 * BENCH_ROWS (A,B,O,C,D)  BENCH_SYSTEM_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": profiles the origin's process)
 * LOCAL_EDGE_KEY (ec; `shared` signs the edge assertions with an HMAC key, as `npm start` does with it)
 */
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? "1,8,32").split(",").map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROWS = new Set((process.env.BENCH_ROWS ?? "A,B,O,C,D").split(","));
const MAX_CLIENTS = Math.max(...CONCURRENCY);

/** Opens `count` clients a few at a time (rows A and B spawn a stdio child per session). */
async function openClients(count: number, open: () => Promise<BenchClient>): Promise<BenchClient[]> {
  const clients: BenchClient[] = [];
  while (clients.length < count) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(4, count - clients.length) }, open))));
  }
  return clients;
}

const closers: (() => Promise<void>)[] = [];
const rows: Row[] = [];
try {
  console.log("starting the local system, supergateway and the pass-through Worker…");
  // Both wranglers (B's and the edge's) run with the same settings; wrangler's local trace capture is a dev tool.
  console.log(`wrangler's local trace capture (X_LOCAL_OBSERVABILITY): ${wranglerDevEnv().X_LOCAL_OBSERVABILITY}`);
  console.log(`edge assertion key (LOCAL_EDGE_KEY): ${process.env.LOCAL_EDGE_KEY === "shared" ? "shared" : "ec"}`);
  const [system, gateway] = await Promise.all([startSystemProcess(), startSupergateway()]);
  closers.push(system.close, gateway.close);
  const passthrough = await startPassthroughWorker(gateway.url);
  closers.push(passthrough.close);

  console.log(`opening ${MAX_CLIENTS} clients per row…`);
  const edgeMcp = new URL(`${system.edgeUrl}/mcp/everything`);
  const provider = ROWS.has("C") || ROWS.has("D") ? await signIn(edgeMcp) : undefined;
  // The CPU a row's calls cost: every process that serves it (the system's includes an idle IdP and database).
  const gatewayCpu = () => cpuMsOfTree(gateway.pid);
  const systemCpu = () => cpuMsOfTree(system.pid);
  const plans: [string, string, () => Promise<BenchClient>, () => number][] = [
    ["A", "A supergateway → stdio", () => plainSession(new URL(`${gateway.url}/mcp`)), gatewayCpu],
    [
      "B",
      "B bare Worker → A",
      () => plainSession(new URL(`${passthrough.url}/mcp`)),
      () => cpuMsOfTree(passthrough.pid) + gatewayCpu(),
    ],
    [
      "O",
      "O origin only (signed here)",
      () => originClient(system.originUrl, join(system.dataDir, "edge.env")),
      () => cpuMsOfTree(system.pid, /wrangler/), // the edge, idle on this row, left out
    ],
    ["C", "C modern → edge → origin", () => modernClient(edgeMcp, provider as never), systemCpu],
    ["D", "D legacy → edge DO → origin", () => legacyClient(edgeMcp, provider as never), systemCpu],
  ];
  for (const [key, label, open, cpuMs] of plans) {
    if (!ROWS.has(key)) continue;
    const clients = await openClients(MAX_CLIENTS, open);
    closers.push(async () => {
      await Promise.all(clients.map((client) => client.close().catch(() => {})));
    });
    rows.push({ key, label, clients, cpuMs });
  }

  const { median: med, roundRatios } = await runMatrix(rows, {
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
  });

  const has = (key: string) => rows.some((row) => row.key === key);
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  console.log("\nratios (of medians); issue 6 targets: C/B ≤ 1.15 and D/B ≤ 1.3 for p50 and p99, ≥ 0.85 for req/s");
  for (const [top, bottom, target] of [
    ["C", "B", "latency ≤ 1.15, req/s ≥ 0.85"],
    ["D", "B", "latency ≤ 1.3, req/s ≥ 0.85"],
    ["O", "A", "reference: origin vs supergateway"],
    ["B", "A", "reference: what a bare Worker hop costs"],
  ] as const) {
    if (!has(top) || !has(bottom)) continue;
    const cells = CONCURRENCY.map(
      (n) =>
        `${n}: p50 ${ratio(med(top, n, "p50"), med(bottom, n, "p50"))} p99 ${ratio(med(top, n, "p99"), med(bottom, n, "p99"))} req/s ${ratio(med(top, n, "rps"), med(bottom, n, "rps"))}`,
    );
    console.log(`${top}/${bottom}  ${cells.join("   ")}   (${target})`);
  }
  // The same ratios round by round: how far a single run's figure can move on this machine.
  console.log("per-round p50 ratios (each round's pair of cells; lowest–highest)");
  for (const [top, bottom] of [
    ["C", "B"],
    ["D", "B"],
    ["O", "A"],
  ] as const) {
    if (!has(top) || !has(bottom)) continue;
    const cells = CONCURRENCY.map((n) => {
      const ratios = roundRatios(top, bottom, n, "p50");
      return `${n}: ${ratios[0]?.toFixed(2)}–${ratios.at(-1)?.toFixed(2)}`;
    });
    console.log(`${top}/${bottom}  ${cells.join("   ")}`);
  }
  // Issue 13: the origin at most supergateway's CPU per call; the edge's own CPU beside a bare Worker's.
  const cpu = (key: string, n: number) => med(key, n, "cpu");
  if (has("O") && has("A")) {
    const cells = CONCURRENCY.map((n) => `${n}: ${ratio(cpu("O", n), cpu("A", n))}`);
    console.log(`CPU per call O/A  ${cells.join("   ")}   (origin vs supergateway: ≤ 1, 0.7 the goal)`);
  }
  if (has("A") && has("B") && has("O") && has("C")) {
    const cells = CONCURRENCY.map(
      (n) => `${n}: ${(cpu("C", n) - cpu("O", n)).toFixed(2)} vs ${(cpu("B", n) - cpu("A", n)).toFixed(2)} ms`,
    );
    console.log(`edge CPU per call, C−O vs B−A  ${cells.join("   ")}   (our edge vs a bare Worker)`);
  }
} finally {
  for (const close of closers.reverse()) await close().catch((error: unknown) => console.error(String(error)));
}
