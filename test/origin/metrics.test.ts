import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOriginApp } from "../../aws/origin/app.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { createOriginMetrics } from "../../aws/origin/metrics/registry.ts";
import { startOrigin } from "../../aws/origin/start-origin.ts";
import { AUDIT_INGEST_PATH, type AuditEvent } from "../../contract/audit-event.ts";
import type { UpstreamServer } from "../../contract/config/schema.ts";
import { ALL_SERVERS, EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { freePort } from "../../local/free-port.ts";
import { demoServers } from "../../local/system.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { modernRequest, testHostOptions } from "./modern-request.ts";
import { type TestEdgeKey, testEdgeKey, testOriginConfig, testOriginParts } from "./origin-under-test.ts";

// Personal data that must never reach a label.
const SUB = "metrics-user-7f3a9c";
const EMAIL = "metrics.user.7f3a9c@example.test";

let database: TestDatabase;
let edge: TestEdgeKey;

beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
  edge = await testEdgeKey();
});
afterAll(async () => {
  await database?.close();
});

/** An origin app with its own metrics and stdio pool, built as the origin builds it. */
function buildOrigin(
  servers: Record<string, UpstreamServer>,
  breaker?: { failures: number; openMs: number },
  aggregated = false,
) {
  const metrics = createOriginMetrics({ servers: Object.keys(servers), database: database.pool });
  const pool: HostPool = createHostPool({
    servers,
    idleTimeoutMs: 60_000,
    maxProcesses: 4,
    host: testHostOptions,
    children: metrics.children,
    breaker,
    circuits: metrics.circuits,
    log: () => {},
  });
  const aggregate = aggregated ? { servers: Object.keys(servers), upstreamTimeoutMs: 15_000, keepAliveMs: 0 } : undefined;
  const app = createOriginApp({ ...testOriginParts(edge, database), pool, metrics, aggregate });
  return { app, pool };
}
type Origin = ReturnType<typeof buildOrigin>;

/** An assertion as the edge signs it (for an MCP request when the claims name a server, else an operator's). */
async function assertion(claims: Record<string, unknown> = {}, times: { iat?: number; exp?: number } = {}): Promise<string> {
  const purpose = "server" in claims ? "mcp" : "ops";
  return edge.sign({ sub: SUB, email: EMAIL, client_id: "client-1", purpose, ...claims }, times);
}

async function scrape(origin: Origin): Promise<string> {
  const response = await origin.app.request("/metrics", { headers: { [EDGE_ASSERTION_HEADER]: await assertion() } });
  expect(response.status).toBe(200);
  return response.text();
}

/** A sample's value in the exposition text (0 when the series does not exist yet). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  for (const line of text.split("\n")) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = match[2] ? match[2].split(",") : [];
    if (present.length === wanted.length && wanted.every((pair) => present.includes(pair))) return Number(match[3]);
  }
  return 0;
}

/** Sends one MCP request as the edge would relay it, reading its answer to the end. */
async function mcpRequest(origin: Origin, server: string): Promise<number> {
  const request = modernRequest("tools/list");
  request.headers.set(EDGE_ASSERTION_HEADER, await assertion({ server }));
  const response = await origin.app.request(`/servers/${server}/mcp`, request);
  await response.arrayBuffer();
  return response.status;
}

async function until(origin: Origin, condition: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await scrape(origin);
    if (condition(text)) return text;
    if (Date.now() > deadline) throw new Error(`metrics did not reach the expected state:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const auditEvent = (): AuditEvent => ({
  id: crypto.randomUUID(),
  time: new Date().toISOString(),
  kind: "mcp.request",
  outcome: "ok",
  latencyMs: 3,
});

async function postAudit(origin: Origin, body: unknown): Promise<number> {
  const response = await origin.app.request(AUDIT_INGEST_PATH, {
    method: "POST",
    headers: { "content-type": "application/json", [EDGE_ASSERTION_HEADER]: await assertion({ purpose: "audit-delivery" }) },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

describe("the origin's /metrics behind the edge assertion", () => {
  let origin: Origin;
  beforeAll(() => {
    origin = buildOrigin({});
  });
  afterAll(() => origin.pool.close());

  it("has every refusal reason's series from the start, at 0, so that a first refusal is an increase (s24 hunt observability F17)", async () => {
    const fresh = buildOrigin({});
    try {
      const text = await scrape(fresh);
      for (const reason of ["keyset", "signature", "replayed", "full"])
        expect(text, reason).toContain(`mcp_origin_assertion_rejections_total{reason="${reason}"} 0`);
    } finally {
      await fresh.pool.close();
    }
  });

  it("refuses a scrape without an assertion, and counts the refusal by its reason", async () => {
    const before = sample(await scrape(origin), "mcp_origin_assertion_rejections_total", { reason: "missing" });
    const response = await origin.app.request("/metrics");
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "invalid_edge_assertion", reason: "missing" });
    const after = sample(await scrape(origin), "mcp_origin_assertion_rejections_total", { reason: "missing" });
    expect(after - before).toBe(1);
  });

  it("refuses an assertion minted for anything but an operator (403), an MCP user's or the audit delivery's", async () => {
    for (const claims of [{ server: "everything" }, { purpose: "audit-delivery" }]) {
      const response = await origin.app.request("/metrics", { headers: { [EDGE_ASSERTION_HEADER]: await assertion(claims) } });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ reason: "purpose", detail: expect.stringMatching(/^metrics need/) });
    }
  });

  it("serves the Prometheus text format to a request with a valid assertion", async () => {
    const response = await origin.app.request("/metrics", { headers: { [EDGE_ASSERTION_HEADER]: await assertion() } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain("# TYPE mcp_origin_requests_total counter");
    expect(text).toContain("# TYPE mcp_origin_request_duration_seconds histogram");
    expect(text).toContain("# TYPE mcp_origin_stdio_children gauge");
  });

  it("counts an expired and a replayed assertion under their reasons", async () => {
    const reasons = (text: string) => ({
      expired: sample(text, "mcp_origin_assertion_rejections_total", { reason: "expired" }),
      replayed: sample(text, "mcp_origin_assertion_rejections_total", { reason: "replayed" }),
    });
    const before = reasons(await scrape(origin));
    const now = Math.floor(Date.now() / 1000);
    const expired = await assertion({}, { iat: now - 300, exp: now - 120 });
    expect((await origin.app.request("/metrics", { headers: { [EDGE_ASSERTION_HEADER]: expired } })).status).toBe(401);
    const once = await assertion();
    expect((await origin.app.request("/metrics", { headers: { [EDGE_ASSERTION_HEADER]: once } })).status).toBe(200);
    expect((await origin.app.request("/metrics", { headers: { [EDGE_ASSERTION_HEADER]: once } })).status).toBe(401);
    const after = reasons(await scrape(origin));
    expect({ expired: after.expired - before.expired, replayed: after.replayed - before.replayed }).toEqual({
      expired: 1,
      replayed: 1,
    });
  });

  it("counts audit events received, inserted and refused, a redelivery as received only, and a request of no batch", async () => {
    const counts = (text: string) => ({
      received: sample(text, "mcp_origin_audit_events_received_total"),
      inserted: sample(text, "mcp_origin_audit_events_inserted_total"),
      refused: sample(text, "mcp_origin_audit_event_refusals_total"),
      invalid: sample(text, "mcp_origin_audit_invalid_batches_total"),
    });
    const before = counts(await scrape(origin));
    const events = [auditEvent(), auditEvent()];
    expect(await postAudit(origin, { events })).toBe(200);
    expect(await postAudit(origin, { events })).toBe(200);
    expect(await postAudit(origin, { events: [{ ...auditEvent(), outcome: "maybe" }, auditEvent()] })).toBe(422);
    expect(await postAudit(origin, { events: "none" })).toBe(400);
    const after = counts(await scrape(origin));
    expect({
      received: after.received - before.received,
      inserted: after.inserted - before.inserted,
      refused: after.refused - before.refused,
      invalid: after.invalid - before.invalid,
    }).toEqual({ received: 5, inserted: 3, refused: 1, invalid: 1 });
  });

  it("counts a refused event's every delivery as a refusal, and its siblings as received again, not inserted (s24 hunt observability F16)", async () => {
    const counts = (text: string) => ({
      received: sample(text, "mcp_origin_audit_events_received_total"),
      inserted: sample(text, "mcp_origin_audit_events_inserted_total"),
      refusals: sample(text, "mcp_origin_audit_event_refusals_total"),
    });
    const before = counts(await scrape(origin));
    // One queue message, sent three times (the edge retries it while one of its events is refused).
    const message = { events: [{ ...auditEvent(), outcome: "maybe" }, auditEvent(), auditEvent()] };
    for (let delivery = 0; delivery < 3; delivery++) expect(await postAudit(origin, message)).toBe(422);
    const after = counts(await scrape(origin));
    expect({
      received: after.received - before.received,
      inserted: after.inserted - before.inserted,
      refusals: after.refusals - before.refusals,
    }).toEqual({ received: 6, inserted: 2, refusals: 3 });
  });

  it("reports the database pool as pg counts it, at scrape time", async () => {
    const text = await scrape(origin);
    for (const name of ["clients", "idle_clients", "waiting_clients"])
      expect(text).toContain(`# TYPE mcp_origin_database_pool_${name} gauge`);
    // The scrape's own replay-guard claim has used the pool, which now holds that connection idle.
    expect(sample(text, "mcp_origin_database_pool_clients")).toBe(database.pool.totalCount);
    expect(sample(text, "mcp_origin_database_pool_clients")).toBeGreaterThan(0);
    expect(sample(text, "mcp_origin_database_pool_idle_clients")).toBe(database.pool.idleCount);
    expect(sample(text, "mcp_origin_database_pool_waiting_clients")).toBe(0);
  });
});

describe("the origin's metrics of MCP requests and stdio children", () => {
  let origin: Origin;
  beforeAll(() => {
    const crashing: UpstreamServer = { transport: "stdio", command: process.execPath, args: ["-e", "process.exit(3)"], env: {} };
    origin = buildOrigin({ ...demoServers(), crashing });
  });
  afterAll(() => origin.pool.close());

  it("counts a request per server and status, times it, and counts the child it spawned", async () => {
    const labels = { server: "everything" };
    const before = await scrape(origin);
    expect(sample(before, "mcp_origin_stdio_children", labels)).toBe(0);
    expect(await mcpRequest(origin, "everything")).toBe(200);
    const after = await scrape(origin);
    const ok = { server: "everything", status: "200" };
    expect(sample(after, "mcp_origin_requests_total", ok) - sample(before, "mcp_origin_requests_total", ok)).toBe(1);
    const count = "mcp_origin_request_duration_seconds_count";
    expect(sample(after, count, labels) - sample(before, count, labels)).toBe(1);
    expect(sample(after, "mcp_origin_request_duration_seconds_sum", labels)).toBeGreaterThan(0);
    expect(sample(after, "mcp_origin_stdio_spawns_total", labels)).toBe(1);
    expect(sample(after, "mcp_origin_stdio_children", labels)).toBe(1);
  });

  it("counts an unknown server's requests under one label, never the path the caller chose", async () => {
    const before = sample(await scrape(origin), "mcp_origin_requests_total", { server: "_unknown", status: "401" });
    const response = await origin.app.request("/servers/made-up-by-caller/mcp", { method: "POST" });
    expect(response.status).toBe(401);
    const text = await scrape(origin);
    expect(sample(text, "mcp_origin_requests_total", { server: "_unknown", status: "401" }) - before).toBe(1);
    expect(text).not.toContain("made-up-by-caller");
  });

  it("counts a child that exits non-zero as a crash, and the failed request", async () => {
    const labels = { server: "crashing" };
    expect(await mcpRequest(origin, "crashing")).toBe(503);
    const text = await until(origin, (current) => sample(current, "mcp_origin_stdio_crashes_total", labels) === 1);
    expect(sample(text, "mcp_origin_stdio_spawns_total", labels)).toBe(1);
    expect(sample(text, "mcp_origin_stdio_exits_total", labels)).toBe(1);
    expect(sample(text, "mcp_origin_stdio_children", labels)).toBe(0);
    expect(sample(text, "mcp_origin_requests_total", { server: "crashing", status: "503" })).toBe(1);
  });

  it("puts no user id or e-mail address in any label", async () => {
    const text = await scrape(origin);
    expect(text).not.toContain(SUB);
    expect(text).not.toContain(EMAIL);
    const servers = new Set([...text.matchAll(/server="([^"]*)"/g)].map((match) => match[1]));
    expect([...servers].sort()).toEqual(["*", "_unknown", "crashing", "everything"]);
  });

  it("counts the exit of a child the pool stops, as no crash, and the gauge falls to 0", async () => {
    const labels = { server: "everything" };
    await origin.pool.close();
    const text = await until(origin, (current) => sample(current, "mcp_origin_stdio_children", labels) === 0);
    expect(sample(text, "mcp_origin_stdio_exits_total", labels)).toBe(1);
    expect(sample(text, "mcp_origin_stdio_crashes_total", labels)).toBe(0);
  });
});

describe("the origin's metrics of the aggregated endpoint /mcp", () => {
  it('counts and times its requests under server="*", refusals included, and a per-server path naming * as _unknown', async () => {
    const origin = buildOrigin({}, undefined, true);
    try {
      const before = await scrape(origin);
      const counted = (text: string, status: string) => sample(text, "mcp_origin_requests_total", { server: "*", status });
      const request = modernRequest("tools/list");
      request.headers.set(EDGE_ASSERTION_HEADER, await assertion({ server: ALL_SERVERS }));
      const answered = await origin.app.request("/mcp", request);
      await answered.arrayBuffer();
      expect(answered.status).toBe(200);
      expect((await origin.app.request("/mcp", { method: "POST" })).status).toBe(401);
      // A caller's path is never aggregated traffic.
      expect((await origin.app.request("/servers/*/mcp", { method: "POST" })).status).toBe(401);
      const after = await scrape(origin);
      expect({
        ok: counted(after, "200") - counted(before, "200"),
        refused: counted(after, "401") - counted(before, "401"),
      }).toEqual({
        ok: 1,
        refused: 1,
      });
      const count = "mcp_origin_request_duration_seconds_count";
      expect(sample(after, count, { server: "*" }) - sample(before, count, { server: "*" })).toBe(2);
      const unknown = { server: "_unknown", status: "401" };
      expect(sample(after, "mcp_origin_requests_total", unknown) - sample(before, "mcp_origin_requests_total", unknown)).toBe(1);
    } finally {
      await origin.pool.close();
    }
  });
});

describe("the origin's metrics of upstream circuits", () => {
  it("counts a circuit that opened and the requests it refused at once, per server", async () => {
    const crashing: UpstreamServer = { transport: "stdio", command: process.execPath, args: ["-e", "process.exit(3)"], env: {} };
    const origin = buildOrigin({ crashing }, { failures: 2, openMs: 60_000 });
    try {
      const labels = { server: "crashing" };
      for (let i = 0; i < 2; i++) expect(await mcpRequest(origin, "crashing")).toBe(503);
      expect(sample(await scrape(origin), "mcp_origin_upstream_circuit_opens_total", labels)).toBe(1);
      expect(sample(await scrape(origin), "mcp_origin_upstream_circuit_refusals_total", labels)).toBe(0);
      for (let i = 0; i < 3; i++) expect(await mcpRequest(origin, "crashing")).toBe(503);
      const text = await scrape(origin);
      expect(sample(text, "mcp_origin_upstream_circuit_refusals_total", labels)).toBe(3);
      expect(sample(text, "mcp_origin_upstream_circuit_opens_total", labels)).toBe(1);
      expect(sample(text, "mcp_origin_stdio_spawns_total", labels)).toBe(2);
    } finally {
      await origin.pool.close();
    }
  });
});

describe("a child killed by a signal", () => {
  it("is counted as a crash", async () => {
    const origin = buildOrigin(demoServers());
    try {
      const lease = await origin.pool.acquire("everything", {
        sub: SUB,
        server: "everything",
        clientId: "client-1",
        era: "modern",
      });
      lease.release();
      process.kill(lease.host.pid as number, "SIGKILL");
      await lease.host.closed;
      const labels = { server: "everything" };
      const text = await until(origin, (current) => sample(current, "mcp_origin_stdio_exits_total", labels) === 1);
      expect(sample(text, "mcp_origin_stdio_crashes_total", labels)).toBe(1);
      expect(sample(text, "mcp_origin_stdio_children", labels)).toBe(0);
    } finally {
      await origin.pool.close();
    }
  });
});

describe("the metrics port (metrics.port)", () => {
  it("serves /metrics there without an assertion, while the main port still requires one", async () => {
    const metricsPort = await freePort();
    const config = await testOriginConfig(database, { metrics: { port: metricsPort } });
    const running = await startOrigin(config, () => {});
    try {
      expect(running.metricsUrl).toBe(`http://127.0.0.1:${metricsPort}`);
      const open = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(open.status).toBe(200);
      const text = await open.text();
      expect(text).toContain("# TYPE mcp_origin_requests_total counter");
      expect(text).toContain("process_cpu_seconds_total");
      // Only /metrics: the MCP routes are not served on the metrics port.
      expect((await fetch(`http://127.0.0.1:${metricsPort}/servers/everything/mcp`, { method: "POST" })).status).toBe(404);
      const guarded = await fetch(`${running.url}/metrics`);
      expect(guarded.status).toBe(401);
      expect(await guarded.json()).toEqual({ error: "invalid_edge_assertion", reason: "missing" });
    } finally {
      await running.close();
    }
    await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
  });

  it("counts resources past the bound of pins (mcp_origin_unpinned_resources_total, s22 review R2)", async () => {
    const metricsPort = await freePort();
    const running = await startOrigin(await testOriginConfig(database, { metrics: { port: metricsPort } }), () => {});
    try {
      // Registered only when start-origin hands originPins the counter's hook (the hook's counting: pin-growth.test.ts).
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(text).toContain("# TYPE mcp_origin_unpinned_resources_total counter");
    } finally {
      await running.close();
    }
  });

  it("opens no metrics port when none is set", async () => {
    const running = await startOrigin(await testOriginConfig(database), () => {});
    try {
      expect(running.metricsUrl).toBeUndefined();
    } finally {
      await running.close();
    }
  });
});
