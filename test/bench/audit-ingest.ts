// Audit ingest into PostgreSQL: how many events a second the origin's store writes (aws/origin/audit/store.ts).
// Usage: npx --no-install node test/bench/audit-ingest.ts [--events 200000] [--batch 500] [--concurrency 4] [--rounds 3]
// PGlite (embedded, one connection) by default; DATABASE_URL=postgres://… for a server (scripts/with-postgres.sh
// starts a throwaway one: scripts/with-postgres.sh npx --no-install node test/bench/audit-ingest.ts).
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createPool } from "../../aws/origin/db/pool.ts";
import { type AuditEvent, MAX_INGEST_EVENTS } from "../../contract/audit-event.ts";
import { EMBEDDED_POOL_MAX, startEmbeddedPostgres } from "../../local/embedded-postgres.ts";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "200000" },
    batch: { type: "string", default: String(MAX_INGEST_EVENTS) },
    concurrency: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
  },
});
const total = Number(values.events);
const batchSize = Number(values.batch);
const rounds = Number(values.rounds);

/** Events as the edge sends them: every field filled, users and tools varied like real traffic. */
function batchOf(size: number): AuditEvent[] {
  const now = Date.now();
  return Array.from({ length: size }, (_, i) => ({
    id: randomUUID(),
    time: new Date(now + i).toISOString(),
    kind: "mcp.request",
    userSub: `user-${i % 1000}`,
    userEmail: `user-${i % 1000}@example.com`,
    clientId: "https://claude.ai/oauth/mcp-client-metadata",
    server: `server-${i % 8}`,
    method: "tools/call",
    tool: `tool_${i % 50}`,
    outcome: "ok",
    httpStatus: 200,
    latencyMs: 12.5,
    requestBytes: 512,
    responseBytes: 2048,
    protocolVersion: "2025-11-25",
  }));
}

async function database(): Promise<{ url: string; poolMax: number; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, poolMax: 10, stop: async () => {} };
  const dataDir = await mkdtemp(join(tmpdir(), "mcp-bench-audit-"));
  const embedded = await startEmbeddedPostgres({ dataDir, port: 0 });
  return {
    url: embedded.url,
    poolMax: EMBEDDED_POOL_MAX,
    stop: async () => {
      await embedded.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const db = await database();
const concurrency = Math.min(Number(values.concurrency), db.poolMax);
const pool = createPool(db.url, { max: concurrency });
await migrate(pool);
const store = createAuditStore(pool);
console.log(
  `audit ingest: ${total} events, batches of ${batchSize}, ${concurrency} at once, on ${process.env.DATABASE_URL ? "PostgreSQL (DATABASE_URL)" : "PGlite (embedded)"}`,
);
const rates: number[] = [];
for (let round = 1; round <= rounds; round++) {
  const batches = Array.from({ length: Math.ceil(total / batchSize) }, () => batchOf(batchSize));
  let next = 0;
  let inserted = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < batches.length) {
        const batch = batches[next++] as AuditEvent[];
        const stored = await store.insert(batch);
        inserted += stored.inserted;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  // A redelivered batch: every event already stored, nothing written twice.
  const again = await store.insert(batches[0] as AuditEvent[]);
  const rate = inserted / seconds;
  rates.push(rate);
  console.log(
    `round ${round}: ${inserted} events in ${seconds.toFixed(2)} s = ${Math.round(rate)} events/s (redelivered batch inserted ${again.inserted})`,
  );
}
const sorted = [...rates].sort((a, b) => a - b);
console.log(
  `median ${Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0)} events/s [${Math.round(sorted[0] ?? 0)}–${Math.round(sorted.at(-1) ?? 0)}]`,
);
await pool.end();
await db.stop();
