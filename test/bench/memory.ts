// Memory per user of stdio upstreams: N users' children of @modelcontextprotocol/server-everything started through
// the origin's host pool, each answering one call, then Rss and Pss read from /proc/<pid>/smaps_rollup (Linux).
// Usage: npx --no-install node test/bench/memory.ts [--users 10] [--sharing per-user|shared]
import { parseArgs } from "node:util";
import { createHostPool } from "../../aws/origin/hosting/host-pool.ts";
import { demoServers } from "../../local/system.ts";
import { messagesOf, modernRequest, testHostOptions } from "../origin/modern-request.ts";
import { memoryOf } from "./process-memory.ts";

const { values } = parseArgs({
  options: { users: { type: "string", default: "10" }, sharing: { type: "string", default: "per-user" } },
});
const users = Number(values.users);
const sharing = values.sharing === "shared" ? "shared" : "per-user";

const everything = demoServers().everything;
if (!everything) throw new Error("the demo server @modelcontextprotocol/server-everything is missing");
const pool = createHostPool({
  servers: { everything: { ...everything, sharing } },
  idleTimeoutMs: 600_000,
  maxProcesses: users + 1,
  host: testHostOptions,
  log: () => {},
});
const originBefore = await memoryOf("self");
const pids = new Set<number>();
for (let user = 0; user < users; user++) {
  const caller = { sub: `user-${user}`, server: "everything", clientId: "bench", era: "modern" as const };
  const lease = await pool.acquire("everything", caller);
  const echo = modernRequest("tools/call", { name: "echo", arguments: { message: "hi" } });
  await messagesOf(await lease.host.fetch(echo, caller));
  lease.release();
  pids.add(lease.host.pid as number);
}
// Let lazily loaded code settle so every child is measured in the same state.
await new Promise((resolve) => setTimeout(resolve, 1000));
const children = await Promise.all([...pids].map((pid) => memoryOf(pid)));
const origin = await memoryOf("self");
const sum = (key: "rss" | "pss") => children.reduce((total, child) => total + child[key], 0);
const mib = (value: number) => value.toFixed(1).padStart(8);

console.log(`${users} users, sharing ${sharing}: ${children.length} children of server-everything`);
console.log("| process | Rss MiB | Pss MiB |");
console.log("|---|---|---|");
const sorted = (key: "rss" | "pss") => children.map((child) => child[key]).sort((a, b) => a - b);
const [rssSorted, pssSorted] = [sorted("rss"), sorted("pss")];
const spread = (values: number[]) =>
  `${mib(values[Math.floor(values.length / 2)] ?? 0)} [${(values[0] ?? 0).toFixed(1)}–${(values.at(-1) ?? 0).toFixed(1)}]`;
console.log(`| one child, median [min–max] | ${spread(rssSorted)} | ${spread(pssSorted)} |`);
console.log(`| children, total | ${mib(sum("rss"))} | ${mib(sum("pss"))} |`);
console.log(`| per user (children / users) | ${mib(sum("rss") / users)} | ${mib(sum("pss") / users)} |`);
console.log(
  `| origin process (before → after) | ${mib(originBefore.rss)} → ${mib(origin.rss)} | ${mib(originBefore.pss)} → ${mib(origin.pss)} |`,
);
console.log(
  `| origin growth per user | ${mib((origin.rss - originBefore.rss) / users)} | ${mib((origin.pss - originBefore.pss) / users)} |`,
);
await pool.close();
