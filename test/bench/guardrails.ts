// What guardrails cost a tool call at the origin: `tools/call` through a server's endpoint with no guardrail, with the
// default secret detector, and with the detector and a deny-pattern check, on a small and on a 64 KB result, in one
// run (interleaved rounds, same upstream kind). Usage: npx --no-install node test/bench/guardrails.ts [--calls 300]
import { parseArgs } from "node:util";
import { GuardrailChain } from "../../aws/origin/guardrails/chain.ts";
import { createHostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "../origin/modern-request.ts";

const calls = Number(parseArgs({ options: { calls: { type: "string", default: "300" } } }).values.calls);
const VARIANTS = {
  none: [],
  "secret-detector": [{ hook: "secret-detector" }],
  "detector + deny-patterns": [{ hook: "deny-patterns", patterns: ["rm\\s+-rf", "drop\\s+table"] }, { hook: "secret-detector" }],
};
const servers = Object.fromEntries(
  Object.keys(VARIANTS).map((_, index) => [`s${index}`, catalogServer({ name: `s${index}`, tools: [{ name: "echo" }] })]),
);
const chains = new Map(Object.values(VARIANTS).map((entries, index) => [`s${index}`, new GuardrailChain(entries)]));
const pool = createHostPool({
  servers,
  idleTimeoutMs: 600_000,
  maxProcesses: 8,
  host: { ...testHostOptions, guardrailsOf: (server) => chains.get(server) },
  log: () => {},
});

const call = async (server: string, text: string) => {
  const who = { sub: "bench", client_id: "bench", server, purpose: "mcp", jti: "j", exp: 0 } as VerifiedAssertion;
  await messagesOf(await serveMcp(pool, server, who, modernRequest("tools/call", { name: "echo", arguments: { text } })));
};
const percentile = (samples: number[], p: number) => samples.sort((a, b) => a - b)[Math.floor(samples.length * p)] ?? NaN;

const sizes = { small: "hello", "64 KB": "lorem ipsum dolor sit amet ".repeat(2500) };
const results: Record<string, Record<string, number[]>> = {};
for (const name of Object.keys(servers)) await call(name, "warm up");
for (let round = 0; round < 3; round++) {
  for (const [size, text] of Object.entries(sizes)) {
    for (const [index, variant] of Object.keys(VARIANTS).entries()) {
      const samples: number[] = [];
      for (let i = 0; i < calls; i++) {
        const started = performance.now();
        await call(`s${index}`, text);
        samples.push(performance.now() - started);
      }
      const bySize = results[size] ?? {};
      results[size] = bySize;
      bySize[variant] = [...(bySize[variant] ?? []), percentile(samples, 0.5)];
    }
  }
}
await pool.close();
console.log(`tools/call at the origin, p50 ms per round (3 rounds, ${calls} calls each), and the ratio to no guardrail`);
for (const [size, variants] of Object.entries(results)) {
  const base = variants.none ?? [];
  for (const [variant, medians] of Object.entries(variants)) {
    const ratios = medians.map((median, round) => (median / (base[round] ?? NaN)).toFixed(2));
    console.log(
      `${size.padEnd(6)} ${variant.padEnd(26)} ${medians.map((m) => m.toFixed(2)).join(" / ")}  ×${ratios.join(" / ")}`,
    );
  }
}
