import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { readOpsStats } from "../../aws/origin/ops/stats.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { OpsStats } from "../../contract/ops-stats.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { type OriginUnderTest, originUnderTest } from "./origin-under-test.ts";

// GET /ops/stats against a real database: the dashboard's aggregates, and who may read them.
let database: TestDatabase;
let origin: OriginUnderTest;

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
const call = (minutes: number, fields: Partial<AuditEvent>): AuditEvent => ({
  id: randomUUID(),
  time: minutesAgo(minutes),
  kind: "mcp.request",
  outcome: "ok",
  latencyMs: 10,
  ...fields,
});

// Within the last hour: 4 calls to github (one failed), 2 to docs; older ones fall outside the hour only.
const EVENTS: AuditEvent[] = [
  call(1, { server: "github", method: "tools/call", tool: "search", userEmail: "ada@example.com", clientId: "claude" }),
  call(2, {
    server: "github",
    method: "tools/call",
    tool: "search",
    userEmail: "ada@example.com",
    clientId: "claude",
    latencyMs: 20,
  }),
  call(3, {
    server: "github",
    method: "tools/call",
    tool: "create_issue",
    userEmail: "bob@example.com",
    clientId: "cursor",
    latencyMs: 30,
  }),
  // The round of a 2026-07-28 call that only asked the user: the call's own row (above) follows it, so it is neither
  // a call nor an error.
  call(3, {
    server: "github",
    method: "tools/call",
    tool: "create_issue",
    userEmail: "bob@example.com",
    clientId: "cursor",
    outcome: "input_required",
    latencyMs: 5,
  }),
  // A prompt named like a tool: a call of docs, not of a tool.
  call(4, { server: "docs", method: "prompts/get", tool: "search", latencyMs: 30 }),
  call(4, {
    server: "github",
    method: "tools/call",
    tool: "search",
    userEmail: "ada@example.com",
    clientId: "claude",
    outcome: "error",
    latencyMs: 400,
  }),
  call(5, { server: "docs", method: "resources/read", userSub: "sub-carol", clientId: "vscode", latencyMs: 50 }),
  call(120, { server: "docs", tool: "lookup", userEmail: "old@example.com", latencyMs: 1 }),
  { id: randomUUID(), time: minutesAgo(6), kind: "auth.sign_in", outcome: "ok", latencyMs: 5 },
  { id: randomUUID(), time: minutesAgo(7), kind: "auth.denied", outcome: "denied", httpStatus: 401, latencyMs: 1 },
  { id: randomUUID(), time: minutesAgo(8), kind: "auth.rate_limited", outcome: "denied", count: 7, latencyMs: 0 },
  { id: randomUUID(), time: minutesAgo(9), kind: "mcp.rate_limited", outcome: "denied", count: 3, latencyMs: 0 },
];

beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
  origin = await originUnderTest({ database });
});
afterAll(async () => {
  await database?.close();
});

async function stats(window: string, purpose = "ops") {
  return origin.call(`/ops/stats?window=${window}`, {}, { sub: "admin-1", client_id: "ops-dashboard", purpose });
}

describe("GET /ops/stats", () => {
  it("answers an empty window with zeros, no percentiles and every bucket present", async () => {
    const response = await stats("1h");
    expect(response.status).toBe(200);
    const body = OpsStats.parse(await response.json());
    expect(body.totals).toEqual({ calls: 0, errors: 0, p50Ms: null, p95Ms: null });
    expect(body.series).toHaveLength(12);
    expect(body.series.every((bucket) => bucket.calls === 0)).toBe(true);
    expect(body.servers).toEqual([]);
    expect(body.auth).toEqual({ attempts: 0, failures: 0 });
    expect(body.deliveryLag).toEqual({ p50Ms: null, p95Ms: null, maxMs: null, newestAgeMs: null });
  });

  it("aggregates calls, errors and latency per server and tool, users, clients, auth, limits and lag", async () => {
    await createAuditStore(database.pool).insert(EVENTS);
    const body = OpsStats.parse(await (await stats("1h")).json());
    expect(body.totals).toMatchObject({ calls: 6, errors: 1, p50Ms: 30 });
    expect(body.totals.p95Ms).toBeGreaterThan(50);
    expect(body.servers.map(({ server, calls, errors }) => [server, calls, errors])).toEqual([
      ["github", 4, 1],
      ["docs", 2, 0],
    ]);
    expect(body.servers[0]?.p50Ms).toBe(25);
    expect(body.tools.map(({ server, tool, calls }) => [server, tool, calls])).toEqual([
      ["github", "search", 3],
      ["github", "create_issue", 1],
    ]);
    expect(body.series.reduce((sum, bucket) => sum + bucket.calls, 0)).toBe(6);
    expect(body.series.reduce((sum, bucket) => sum + bucket.errors, 0)).toBe(1);
    expect(body.topUsers).toEqual([
      { user: "ada@example.com", calls: 3 },
      { user: "bob@example.com", calls: 1 },
      { user: "sub-carol", calls: 1 },
    ]);
    expect(body.topClients[0]).toEqual({ client: "claude", calls: 3 });
    // 7 requests (the approval round among them) and 1 sign-in got through; 1 refused token did not.
    expect(body.auth).toEqual({ attempts: 9, failures: 1 });
    expect(body.rateLimited).toEqual({ auth: 7, mcp: 3 });
    expect(body.deliveryLag?.maxMs).toBeGreaterThan(0);
  });

  it("measures the delivery lag of what the edge sends at once, not of rate-limit counts or the origin's own records (s24 hunt observability F2, F10)", async () => {
    const own = await withTestDatabase();
    try {
      await migrate(own.pool);
      const secondsAgo = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString();
      await createAuditStore(own.pool).insert([
        { ...call(0, { server: "docs" }), time: secondsAgo(2) },
        { id: randomUUID(), time: secondsAgo(90), kind: "auth.rate_limited", outcome: "denied", count: 40, latencyMs: 0 },
        { id: randomUUID(), time: secondsAgo(0), kind: "audit.searched", outcome: "ok", latencyMs: 3 },
      ]);
      const body = await readOpsStats(own.pool, "1h", new Date(Date.now() + 1_000));
      expect(body.deliveryLag?.maxMs).toBeGreaterThanOrEqual(2_000);
      expect(body.deliveryLag?.maxMs).toBeLessThan(60_000); // the rate-limit count's minute is not a lag
      expect(body.deliveryLag?.p50Ms).toBe(body.deliveryLag?.maxMs); // one event measured: the search is not one
      // The newest event from the edge is the call, 2 s before now, at a window ending a second from now: the
      // search, stored just now, is not one (it would say 1 s, and hide a stalled delivery).
      expect(body.deliveryLag?.newestAgeMs).toBeGreaterThanOrEqual(3_000);
      expect(body.deliveryLag?.newestAgeMs).toBeLessThan(60_000);
    } finally {
      await own.close();
    }
  });

  it("counts per server how often /mcp answered without it, a server only ever left out included (s24 hunt observability F4)", async () => {
    const own = await withTestDatabase();
    try {
      await migrate(own.pool);
      const leftOut = (server: string): AuditEvent => ({
        id: randomUUID(),
        time: minutesAgo(1),
        kind: "mcp.upstream_left_out",
        server,
        method: "tools/list",
        outcome: "unavailable",
        latencyMs: 0,
      });
      await createAuditStore(own.pool).insert([
        call(1, { server: "*", method: "tools/list" }),
        call(1, { server: "*", method: "tools/list" }),
        call(2, { server: "github", method: "tools/call", tool: "search" }),
        leftOut("nobin"),
        leftOut("nobin"),
        leftOut("github"),
      ]);
      const body = await readOpsStats(own.pool, "1h", new Date(Date.now() + 1_000));
      expect(body.servers.map(({ server, calls, errors, leftOut }) => ({ server, calls, errors, leftOut }))).toEqual([
        { server: "*", calls: 2, errors: 0, leftOut: 0 },
        { server: "github", calls: 1, errors: 0, leftOut: 1 },
        { server: "nobin", calls: 0, errors: 0, leftOut: 2 },
      ]);
      expect(body.servers[2]).toMatchObject({ p50Ms: null, p95Ms: null });
      // Not calls: the totals and the errors are the requests' own.
      expect(body.totals).toMatchObject({ calls: 3, errors: 0 });
    } finally {
      await own.close();
    }
  });

  it("sums up calls, errors and latency over requests that do work, a session's bookkeeping apart (s24 hunt observability F12)", async () => {
    const own = await withTestDatabase();
    try {
      await migrate(own.pool);
      const bookkeeping = ["initialize", "notifications/initialized", "stream/open", "session/delete", "server/discover", "ping"];
      await createAuditStore(own.pool).insert([
        ...bookkeeping.map((method) => call(1, { server: "github", method, latencyMs: 2 })),
        call(1, { server: "github", method: "stream/open", outcome: "error", latencyMs: 1 }),
        call(2, { server: "github", method: "tools/call", tool: "search", outcome: "error", latencyMs: 400 }),
        call(2, { server: "github", method: "tools/list", latencyMs: 200 }),
      ]);
      const body = await readOpsStats(own.pool, "1h", new Date(Date.now() + 1_000));
      expect(body.totals).toMatchObject({ calls: 2, errors: 1, p50Ms: 300 });
      expect(body.bookkeeping).toBe(7);
      // Per server and over time still count every request.
      expect(body.servers[0]).toMatchObject({ server: "github", calls: 9, errors: 2 });
      expect(body.series.reduce((sum, bucket) => sum + bucket.calls, 0)).toBe(9);
    } finally {
      await own.close();
    }
  });

  it("takes older events into the longer windows", async () => {
    const body = OpsStats.parse(await (await stats("24h")).json());
    expect(body.totals.calls).toBe(7);
    expect(body.series).toHaveLength(24);
    expect(OpsStats.parse(await (await stats("7d")).json()).series).toHaveLength(28);
  });

  it("refuses an unknown window, naming the ones it knows", async () => {
    const response = await stats("1y");
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ detail: 'window: expected one of 1h, 24h, 7d; got "1y"' });
  });

  it.each(["mcp", "audit-delivery", "groups"])("refuses an assertion with purpose %s (403)", async (purpose) => {
    const response = await stats("1h", purpose);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ reason: "purpose" });
  });

  it("refuses a request without an assertion (401)", async () => {
    expect((await origin.app.request("/ops/stats?window=1h")).status).toBe(401);
  });
});
