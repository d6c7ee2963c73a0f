import { mkdtemp, rm } from "node:fs/promises";
import { Agent, get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./load.ts";
import { startWrangler } from "./processes.ts";

/**
 * `npm run bench:object-hop`: the floor under the 2025-era session path (row D of `npm run bench`). One client calls
 * a bare Worker back to back, alternately answering at once (`/`) and after one RPC to a Durable Object (`/object`),
 * in interleaved rounds; the difference of the medians is what the hop to a session object costs on this wrangler
 * before the object does anything. BENCH_ROUNDS (5), BENCH_CALLS per round and path (500).
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
  for (let call = 0; call < calls; call++) times.push(await once(path));
  return median(times);
};

try {
  await timed("/", 100);
  await timed("/object", 100);
  const bare: number[] = [];
  const hop: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bare.push(await timed("/", CALLS));
    hop.push(await timed("/object", CALLS));
    console.log(`round ${round + 1}: p50 ${bare.at(-1)?.toFixed(2)} ms bare, ${hop.at(-1)?.toFixed(2)} ms with one object RPC`);
  }
  const [bareMedian, hopMedian] = [median(bare), median(hop)];
  console.log(
    `median over rounds: ${bareMedian.toFixed(2)} ms bare, ${hopMedian.toFixed(2)} ms with the hop: the hop costs ${(hopMedian - bareMedian).toFixed(2)} ms`,
  );
} finally {
  agent.destroy();
  await worker.close();
  await rm(state, { recursive: true, force: true });
}
