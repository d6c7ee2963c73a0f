import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EDGE_ENV_NAMES } from "../../contract/config/env-names.ts";
import { ConfigError, loadConfig } from "../../contract/config/load.ts";
import { EdgeConfig } from "../../contract/config/schema.ts";
import { analyticsEngineSource } from "../../worker/ops/data/analytics-engine/source.ts";
import { OpsSourceError } from "../../worker/ops/data/source.ts";

// The dashboard's Analytics Engine source against a small local server speaking the SQL API's wire protocol: SQL text
// POSTed with a bearer token, `{ meta, data, rows }` back, 64-bit integers as strings (as the API's JSON writes them).
// The server cannot run SQL: it answers each of the source's questions by what it asks for, and keeps what it got.
const TOKEN = "test-analytics-token-not-real";
const ACCOUNT = "0123456789abcdef0123456789abcdef";

interface Received {
  authorization?: string;
  contentType?: string;
  sql: string;
}
let server: Server;
let url: string;
let received: Received[] = [];
let refuseWith: { status: number; body: string } | undefined;

const answer = (data: Record<string, unknown>[]) => ({
  meta: Object.keys(data[0] ?? {}).map((name) => ({ name, type: "String" })),
  data,
  rows: data.length,
  rows_before_limit_at_least: data.length,
});

/** The rows for each question, recognised by what its select list names. */
function rowsFor(sql: string): Record<string, unknown>[] {
  const at = (offset: number) => new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 - offset * 3_600_000);
  const dateTime = (date: Date) => date.toISOString().slice(0, 19).replace("T", " ");
  if (sql.includes("toStartOfInterval"))
    return [
      { start: dateTime(at(3)), calls: "40", errors: "2" },
      { start: dateTime(at(1)), calls: "60", errors: "0" },
    ];
  if (sql.includes("auth_failures"))
    return [{ auth_failures: "3", auth_attempts: "600", auth_limited: "12", mcp_limited: "5", bookkeeping: "250" }];
  if (sql.includes("ORDER BY timestamp DESC"))
    return [
      {
        timestamp: "2026-03-01 12:00:05",
        server: "github",
        method: "tools/call",
        tool: "search",
        outcome: "ok",
        client: "claude-code",
        user: "u-3f2a",
        latency: 12.5,
      },
    ];
  if (sql.includes("blob8 AS user")) return [{ user: "u-3f2a", calls: "70" }];
  if (sql.includes("blob6 AS client")) return [{ client: "claude-code", calls: "100" }];
  if (sql.includes("blob4 AS tool")) return [{ server: "github", tool: "search", calls: "90", errors: "2", p50: 10, p95: 80 }];
  if (sql.includes("blob2 AS server")) return [{ server: "github", calls: "100", errors: "2", p50: 11, p95: 90 }];
  return [{ calls: "100", errors: "2", p50: 11, p95: 90 }];
}

beforeAll(async () => {
  server = createServer(async (request, response) => {
    let sql = "";
    for await (const chunk of request) sql += chunk;
    received.push({ authorization: request.headers.authorization, contentType: request.headers["content-type"], sql });
    if (refuseWith) {
      response.writeHead(refuseWith.status, { "content-type": "text/plain" });
      return void response.end(refuseWith.body);
    }
    if (request.method !== "POST" || request.headers.authorization !== `Bearer ${TOKEN}`) {
      response.writeHead(401, { "content-type": "application/json" });
      return void response.end(JSON.stringify({ errors: [{ message: "Authentication error" }] }));
    }
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify(answer(rowsFor(sql))));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/client/v4/accounts/${ACCOUNT}/analytics_engine/sql`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received = [];
  refuseWith = undefined;
});

const source = (apiToken = TOKEN) =>
  analyticsEngineSource({ accountId: ACCOUNT, apiToken, dataset: "mcp_edge_proxy", sqlUrl: url });

describe("the Analytics Engine source", () => {
  it("reads the window's figures: counts as numbers, weighted percentiles, buckets aligned and filled", async () => {
    const stats = await source().stats("24h");
    expect(stats.totals).toEqual({ calls: 100, errors: 2, p50Ms: 11, p95Ms: 90 });
    // Servers left out of /mcp are the origin's records, never data points: unknown, not 0 (s24 hunt observability F4).
    expect(stats.servers).toEqual([{ server: "github", calls: 100, errors: 2, p50Ms: 11, p95Ms: 90, leftOut: null }]);
    expect(stats.tools[0]).toMatchObject({ server: "github", tool: "search", calls: 90 });
    expect(stats.series).toHaveLength(24);
    expect(stats.series.filter((bucket) => bucket.calls > 0).map((bucket) => bucket.calls)).toEqual([40, 60]);
    expect(stats.series.at(-1)?.calls).toBe(60);
    expect(stats.auth).toEqual({ attempts: 600, failures: 3 });
    expect(stats.rateLimited).toEqual({ auth: 12, mcp: 5 });
    expect(stats.topUsers).toEqual([{ user: "u-3f2a", calls: 70 }]);
    expect(stats.topClients).toEqual([{ client: "claude-code", calls: 100 }]);
    expect(stats.deliveryLag).toBeNull();
    expect(stats.bookkeeping).toBe(250);
  });

  it("sums up only requests that do work, counting a session's bookkeeping apart (s24 hunt observability F12)", async () => {
    await source().stats("1h");
    const totals = received.find((request) => request.sql.includes("AS p95") && !request.sql.includes("GROUP BY"));
    expect(totals?.sql).toContain(
      "(blob3 NOT IN ('initialize', 'ping', 'logging/setLevel', 'stream/open', 'session/delete', 'server/discover', 'subscriptions/listen') AND blob3 NOT LIKE 'notifications/%')",
    );
    const others = received.find((request) => request.sql.includes("auth_failures"));
    expect(others?.sql).toMatch(
      /SUM\(IF\(blob1 = 'mcp\.request' AND blob5 != 'input_required' AND NOT \(blob3 NOT IN .*\), _sample_interval, 0\)\) AS bookkeeping/,
    );
    // The other figures count every request, as before.
    const servers = received.find((request) => request.sql.includes("blob2 AS server") && !request.sql.includes("blob4"));
    expect(servers?.sql).not.toContain("NOT LIKE");
  });

  it("asks each question as SQL text with the bearer token, of the dataset, within the window, weighted by sampling", async () => {
    await source().stats("1h");
    expect(received).toHaveLength(7);
    for (const request of received) {
      expect(request.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request.contentType).toBe("text/plain");
      expect(request.sql).toMatch(/FROM mcp_edge_proxy WHERE/);
      expect(request.sql).toMatch(/timestamp >= toDateTime\(\d+\) AND timestamp < toDateTime\(\d+\)/);
      expect(request.sql).toMatch(/FORMAT JSON$/);
    }
    const [from, until] = (/toDateTime\((\d+)\).*toDateTime\((\d+)\)/.exec(received[0]?.sql ?? "") ?? []).slice(1).map(Number);
    expect((until ?? 0) - (from ?? 0)).toBe(3600);
    expect((until ?? 1) % 300).toBe(0);
    expect(
      received.find((request) => request.sql.includes("quantileExactWeighted(0.95)(double1, _sample_interval)")),
    ).toBeTruthy();
  });

  it("counts neither a round that only asked the user nor a prompt or resource as a call of a tool", async () => {
    await source().stats("1h");
    // Every question but the authentication figures (where the round is a request that passed) counts calls.
    const figures = received.filter((request) => !request.sql.includes("auth_failures"));
    expect(figures).toHaveLength(6);
    for (const request of figures) expect(request.sql).toContain("blob1 = 'mcp.request' AND blob5 != 'input_required'");
    const tools = received.find((request) => request.sql.includes("blob4 AS tool"));
    expect(tools?.sql).toContain("blob3 = 'tools/call'");
  });

  it("reads the newest calls for the live tail", async () => {
    expect(await source().tail(20)).toEqual([
      {
        time: "2026-03-01T12:00:05Z",
        user: "u-3f2a",
        client: "claude-code",
        server: "github",
        tool: "search",
        method: "tools/call",
        outcome: "ok",
        latencyMs: 12.5,
      },
    ]);
    expect(received[0]?.sql).toMatch(/LIMIT 20 FORMAT JSON$/);
  });

  it("says which token permission is missing when the API refuses the token", async () => {
    const refused = source("wrong-token").stats("1h");
    await expect(refused).rejects.toBeInstanceOf(OpsSourceError);
    await expect(refused).rejects.toThrow(/OPS_ANALYTICS_API_TOKEN needs Account Analytics: Read/);
  });

  it("passes on the API's own words about a query it cannot run", async () => {
    refuseWith = { status: 422, body: "unknown column blob99" };
    await expect(source().tail(5)).rejects.toThrow("Analytics Engine's SQL API answered 422: unknown column blob99");
  });

  it("is configured with an account id and a token, or the edge does not start", () => {
    const base = {
      PUBLIC_URL: "https://mcp.example.com",
      ORIGIN_URL: "https://origin.example.com",
      IDP_ISSUER: "https://accounts.example.com",
      IDP_CLIENT_ID: "c",
      IDP_CLIENT_SECRET: "s",
      EDGE_SIGNING_KEY: "k",
    };
    expect(loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: base }).ops).toEqual({ source: "audit-store" });
    expect(() => loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...base, OPS_SOURCE: "analytics-engine" } })).toThrow(
      /ops\.analyticsEngine .*expected accountId and apiToken/,
    );
    expect(() =>
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, {
        env: { ...base, OPS_SOURCE: "analytics-engine", OPS_ANALYTICS_ACCOUNT_ID: "not-an-id", OPS_ANALYTICS_API_TOKEN: "t" },
      }),
    ).toThrow(ConfigError);
    const configured = loadConfig(EdgeConfig, EDGE_ENV_NAMES, {
      env: { ...base, OPS_SOURCE: "analytics-engine", OPS_ANALYTICS_ACCOUNT_ID: ACCOUNT, OPS_ANALYTICS_API_TOKEN: "t" },
    });
    expect(configured.ops.analyticsEngine).toEqual({ accountId: ACCOUNT, apiToken: "t", dataset: "mcp_edge_proxy" });
  });
});
