import { mkdtemp, rm } from "node:fs/promises";
import { Agent, get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./load.ts";
import { cpuMsOfTree } from "./process-cpu.ts";
import { startWrangler } from "./processes.ts";

/**
 * `npm run bench:object-hop`: the floor under the 2025-era session path (row D of `npm run bench`). One client calls
 * a bare Worker back to back, alternately answering at once (`/`) and after one RPC to a Durable Object (`/object`),
 * in interleaved rounds; the difference of the medians is what the hop to a session object costs on this wrangler
 * before the object does anything, in latency and in CPU of wrangler's processes per call. BENCH_ROUNDS (5),
 * BENCH_CALLS per round and path (500).
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CALLS = Number(process.env.BENCH_CALLS ?? 500);

const state = await mkdtemp(join(tmpdir(), "mcp-bench-object-hop-"));
const config = fileURLToPath(new URL("./object-hop.wrangler.toml", import.meta.url));
const worker = await startWrangler(["--config", config, "--persist-to", state], "the object-hop Worker");
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const once = (path: string) =>
  new Promise<number>((resolve, reject) => {
    const started = performance.now();
    get(`${worker.url}${path}`, { agent }, (response) => {
      response.resume();
      response.on("end", () => resolve(performance.now() - started));
    }).on("error", reject);
  });
const timed = async (path: string, calls: number) => {
  const times: number[] = [];
  const cpuBefore = cpuMsOfTree(worker.pid);
  for (let call = 0; call < calls; call++) times.push(await once(path));
  return { p50: median(times), cpu: (cpuMsOfTree(worker.pid) - cpuBefore) / calls };
};

try {
  await timed("/", 100);
  await timed("/object", 100);
  const bare: { p50: number; cpu: number }[] = [];
  const hop: { p50: number; cpu: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bare.push(await timed("/", CALLS));
    hop.push(await timed("/object", CALLS));
    const [b, h] = [bare.at(-1), hop.at(-1)];
    console.log(
      `round ${round + 1}: p50 ${b?.p50.toFixed(2)} ms bare, ${h?.p50.toFixed(2)} ms with one object RPC; CPU ${b?.cpu.toFixed(2)} and ${h?.cpu.toFixed(2)} ms per call`,
    );
  }
  const of = (runs: { p50: number; cpu: number }[], metric: "p50" | "cpu") => median(runs.map((run) => run[metric]));
  const [p50, cpu] = [of(hop, "p50") - of(bare, "p50"), of(hop, "cpu") - of(bare, "cpu")];
  console.log(
    `median over rounds: ${of(bare, "p50").toFixed(2)} ms bare, ${of(hop, "p50").toFixed(2)} ms with the hop; the hop costs ${p50.toFixed(2)} ms p50 and ${cpu.toFixed(2)} ms CPU per call`,
  );
} finally {
  agent.destroy();
  await worker.close();
  await rm(state, { recursive: true, force: true });
}
