import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startTestSystem } from "../e2e/local-system.ts";
import { legacyClient, modernClient, signIn } from "./clients.ts";
import type { BenchClient } from "./load.ts";
import { type Row, runMatrix } from "./matrix.ts";
import { startWrangler } from "./processes.ts";

/**
 * `node test/bench/ablate.ts`: where the edge's time goes. Beside the local system's edge, a second `wrangler dev`
 * runs test/bench/ablation/edge-variants.js (the product's modules, composed with one part switched off per
 * variant) on the same env file and the same local KV, so the token signed in at the edge is valid there too.
 * Modern and legacy clients call through each variant; the table shows what each part costs. Nothing asserted.
 *
 * ABLATE_CONCURRENCY (1,8)  BENCH_SECONDS (3)  BENCH_WARMUP_SECONDS (1)  BENCH_ROUNDS (3)  ABLATE_CLIENTS (8)
 */
const CONCURRENCY = (process.env.ABLATE_CONCURRENCY ?? "1,8").split(",").map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MAX_CLIENTS = Math.max(...CONCURRENCY);

const MODERN_VARIANTS = ["product", "no-queue", "kv-cached", "token-cached", "token-cached+no-queue", "minimal"];
const LEGACY_VARIANTS = ["product", "token-cached+no-queue"];

const closers: (() => Promise<void>)[] = [];
try {
  console.log("starting the local system and the edge variants…");
  const system = await startTestSystem();
  closers.push(system.close);
  const edgeMcp = new URL(`${system.edgeUrl}/mcp/everything`);
  const provider = await signIn(edgeMcp);
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const variants = await startWrangler(
    [
      fileURLToPath(new URL("./ablation/edge-variants.js", import.meta.url)),
      ...["--config", join(root, "wrangler.toml")],
      ...["--env-file", join(system.dataDir, "edge.env"), "--persist-to", join(system.dataDir, "wrangler")],
    ],
    "the edge variants",
    root,
  );
  closers.push(variants.close);

  const rows: Row[] = [];
  const open = async (key: string, label: string, one: () => Promise<BenchClient>) => {
    const clients: BenchClient[] = [];
    for (let i = 0; i < MAX_CLIENTS; i++) clients.push(await one());
    closers.push(async () => {
      await Promise.all(clients.map((client) => client.close().catch(() => {})));
    });
    rows.push({ key, label, clients });
  };
  const variantUrl = (variant: string) => new URL(`${variants.url}/v/${variant}/mcp/everything`);
  await open("C", "C edge (npm start's)", () => modernClient(edgeMcp, provider));
  for (const [index, variant] of MODERN_VARIANTS.entries()) {
    await open(`C${index}`, `C ${variant}`, () => modernClient(variantUrl(variant), provider));
  }
  await open("D", "D edge (npm start's)", () => legacyClient(edgeMcp, provider));
  for (const [index, variant] of LEGACY_VARIANTS.entries()) {
    await open(`D${index}`, `D ${variant}`, () => legacyClient(variantUrl(variant), provider));
  }
  const { median: med } = await runMatrix(rows, {
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
  });
  console.log("\nsaved per request by each variant against the product variant of its path (medians)");
  for (const row of rows) {
    const base = row.key.startsWith("C") ? "C0" : "D0";
    const cells = CONCURRENCY.map(
      (n) =>
        `${n}: p50 ${(med(base, n, "p50") - med(row.key, n, "p50")).toFixed(2)} ms, req/s ×${(med(row.key, n, "rps") / med(base, n, "rps")).toFixed(2)}`,
    );
    console.log(`${row.label.padEnd(30)} ${cells.join("   ")}`);
  }
} finally {
  for (const close of closers.reverse()) await close().catch((error: unknown) => console.error(String(error)));
}
