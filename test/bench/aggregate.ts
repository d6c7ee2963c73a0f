// The aggregated endpoint's cost: `tools/list` on /mcp over 10 upstreams of 50 tools each, beside one server's own
// `tools/list` (/mcp/<server>), in the same run and process, both through the origin's handlers as the edge reaches
// them (the HTTP hop and the edge are the same for both, so they are left out). Children are started first.
// A client without it would list each server in turn: that is the third column.
// Usage: npx --no-install node test/bench/aggregate.ts [--upstreams 10] [--tools 50] [--calls 200]
import { parseArgs } from "node:util";
import { serveAggregate } from "../../aws/origin/aggregate/serve-aggregate.ts";
import { createHostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "../origin/modern-request.ts";

const { values } = parseArgs({
  options: {
    upstreams: { type: "string", default: "10" },
    tools: { type: "string", default: "50" },
    calls: { type: "string", default: "200" },
  },
});
const upstreams = Number(values.upstreams);
const toolsEach = Number(values.tools);
const calls = Number(values.calls);

const names = Array.from({ length: upstreams }, (_, index) => `server-${index + 1}`);
const servers = Object.fromEntries(
  names.map((name) => [
    name,
    catalogServer({ name, tools: Array.from({ length: toolsEach }, (_, index) => ({ name: `tool_number_${index + 1}` })) }),
  ]),
);
const pool = createHostPool({
  servers,
  idleTimeoutMs: 600_000,
  maxProcesses: upstreams + 1,
  host: testHostOptions,
  log: () => {},
});
const user = { sub: "bench", email: "bench@example.com", client_id: "bench", purpose: "mcp", jti: "j", exp: 0 };
const asServer = (server: string) => ({ ...user, server }) as VerifiedAssertion;
const aggregate = {
  servers: names,
  upstreamTimeoutMs: 30_000,
  keepAliveMs: 0,
  askServer: (server: string, assertion: VerifiedAssertion, request: Request) => serveMcp(pool, server, assertion, request),
  leftOut: (server: string, _method: string, reason: string) => console.error(`left out ${server}: ${reason}`),
};

const one = async () =>
  messagesOf(await serveMcp(pool, names[0] as string, asServer(names[0] as string), modernRequest("tools/list")));
/** Every server's own list, one after another: what a client would do without the aggregated endpoint. */
const each = async () => {
  for (const name of names) await messagesOf(await serveMcp(pool, name, asServer(name), modernRequest("tools/list")));
};
const all = async () => messagesOf(await serveAggregate(aggregate, asServer(ALL_SERVERS), modernRequest("tools/list")));

async function timed(run: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let call = 0; call < calls; call++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return samples.sort((a, b) => a - b);
}
const percentile = (samples: number[], p: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] ?? NaN;

console.error(`starting ${upstreams} upstreams of ${toolsEach} tools…`);
const [first] = (await all()) as { result?: { tools?: unknown[] } }[];
if (first?.result?.tools?.length !== upstreams * toolsEach)
  throw new Error(`expected ${upstreams * toolsEach} tools, got ${first?.result?.tools?.length}`);
await timed(one); // warm-up
const rounds: { one: number[]; each: number[]; all: number[] }[] = [];
for (let round = 0; round < 3; round++) rounds.push({ one: await timed(one), each: await timed(each), all: await timed(all) });
await pool.close();

console.log(`tools/list, ${calls} calls per round, 3 rounds interleaved; p50 / p99 in ms`);
console.log("round | one /mcp/<server> | each of the 10 in turn | /mcp (all at once) | /mcp ÷ one | /mcp ÷ each");
const cell = (samples: number[]) => `${percentile(samples, 0.5).toFixed(1)} / ${percentile(samples, 0.99).toFixed(1)}`;
for (const [index, round] of rounds.entries()) {
  const ratio = (samples: number[]) => (percentile(round.all, 0.5) / percentile(samples, 0.5)).toFixed(2);
  console.log(
    `${index + 1}     | ${cell(round.one).padStart(17)} | ${cell(round.each).padStart(22)} | ${cell(round.all).padStart(18)} | ${ratio(round.one).padStart(10)} | ${ratio(round.each).padStart(11)}`,
  );
}
