import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EDGE_ENV_NAMES } from "../../contract/config/env-names.ts";
import { loadConfig } from "../../contract/config/load.ts";
import { EdgeConfig } from "../../contract/config/schema.ts";
import { AUDIT_QUEUES_CACHE_MS, readAuditQueues } from "../../worker/ops/data/queue-depth.ts";
import { auditDelivery } from "../../worker/ops/pages/audit-delivery.ts";

// The dashboard's audit queue reading against a small local server speaking Cloudflare's GraphQL API: a JSON body of
// `{ query, variables }` POSTed with a bearer token, `{ data: { viewer: { accounts: [...] } }, errors: null }` back,
// and errors in the `errors` array, with HTTP 200 as the real API does for a GraphQL-level refusal.
const TOKEN = "test-graphql-token-not-real";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const AUDIT_QUEUE = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DEAD_LETTER_QUEUE = "dddddddddddddddddddddddddddddddd";

interface Received {
  method?: string;
  authorization?: string;
  contentType?: string;
  body: { query?: string; variables?: Record<string, string> };
}
let server: Server;
let url: string;
let sqlUrl: string;
let received: Received[] = [];
/** What the server answers for each queue id: the average messages, or no group at all. */
let backlogs: Record<string, number | undefined> = {};
let answerWith: { status: number; body: unknown } | undefined;
let sqlReceived: string[] = [];
let notQueuedEvents = 0;

const groups = (queueId: string | undefined) => {
  const messages = queueId === undefined ? undefined : backlogs[queueId];
  return messages === undefined ? [] : [{ avg: { messages } }];
};

beforeAll(async () => {
  server = createServer(async (request, response) => {
    let text = "";
    for await (const chunk of request) text += chunk;
    // Analytics Engine's SQL API, for the events the edge could not queue: SQL text in, rows out.
    if (request.url?.startsWith("/sql/")) {
      sqlReceived.push(text);
      response.writeHead(200, { "content-type": "application/json" });
      return response.end(JSON.stringify({ meta: [], data: [{ events: String(notQueuedEvents) }], rows: 1 }));
    }
    const body = JSON.parse(text || "{}") as Received["body"];
    received.push({
      method: request.method,
      authorization: request.headers.authorization,
      contentType: request.headers["content-type"],
      body,
    });
    const reply = (status: number, answer: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(answer));
    };
    if (answerWith) return reply(answerWith.status, answerWith.body);
    if (request.headers.authorization !== `Bearer ${TOKEN}`)
      return reply(200, { data: null, errors: [{ message: "not authorized for that account", path: ["viewer", "accounts"] }] });
    const variables = body.variables ?? {};
    if (variables.accountTag !== ACCOUNT) return reply(200, { data: { viewer: { accounts: [] } }, errors: null });
    reply(200, {
      data: { viewer: { accounts: [{ audit: groups(variables.audit), deadLetter: groups(variables.deadLetter) }] } },
      errors: null,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/client/v4/graphql`;
  sqlUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/sql`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  backlogs = { [AUDIT_QUEUE]: 12.4, [DEAD_LETTER_QUEUE]: 3 };
  answerWith = undefined;
  sqlReceived = [];
  notQueuedEvents = 0;
});

const BASE_ENV = {
  PUBLIC_URL: "https://mcp.example.com",
  ORIGIN_URL: "https://origin.example.com",
  IDP_ISSUER: "https://idp.example.com",
  IDP_CLIENT_ID: "edge",
  IDP_CLIENT_SECRET: "placeholder",
  SERVER_NAMES: "github",
  EDGE_SIGNING_KEY: "placeholder",
};
const QUEUES_ENV = {
  OPS_ANALYTICS_ACCOUNT_ID: ACCOUNT,
  OPS_ANALYTICS_API_TOKEN: TOKEN,
  OPS_AUDIT_QUEUE_ID: AUDIT_QUEUE,
  OPS_DEAD_LETTER_QUEUE_ID: DEAD_LETTER_QUEUE,
};
const edgeConfig = (env: Record<string, string>) => loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...BASE_ENV, ...env } });
/** Each test gets its own cache entry: the reading is cached per isolate by configuration, token included. */
let run = 0;
const configured = (env: Record<string, string> = {}) =>
  edgeConfig({
    ...QUEUES_ENV,
    OPS_QUEUES_GRAPHQL_URL: `${url}/run-${++run}`,
    OPS_ANALYTICS_SQL_URL: `${sqlUrl}/run-${run}`,
    ...env,
  });

describe("the audit queues on the ops dashboard", () => {
  it("reads both queues' backlog with the account's token, for the last 10 minutes", async () => {
    const now = Date.parse("2026-03-01T12:00:00Z");
    const reading = await readAuditQueues(configured(), now);
    expect(reading).toEqual({
      state: "read",
      backlog: 12,
      deadLetters: 3,
      readAt: "2026-03-01T12:00:00.000Z",
      windowMinutes: 10,
      notQueued: 0,
    });
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.method).toBe("POST");
    expect(request?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request?.contentType).toBe("application/json");
    expect(request?.body.query).toContain("queueBacklogAdaptiveGroups");
    expect(request?.body.variables).toEqual({
      accountTag: ACCOUNT,
      audit: AUDIT_QUEUE,
      deadLetter: DEAD_LETTER_QUEUE,
      start: "2026-03-01T11:50:00.000Z",
      end: "2026-03-01T12:00:00.000Z",
    });
  });

  it("counts a queue without any group in the window as empty", async () => {
    backlogs = {};
    expect(await readAuditQueues(configured())).toMatchObject({ state: "read", backlog: 0, deadLetters: 0 });
  });

  it("asks once a minute per isolate, then again", async () => {
    const config = configured();
    const now = Date.now();
    await readAuditQueues(config, now);
    backlogs[DEAD_LETTER_QUEUE] = 7;
    expect(await readAuditQueues(config, now + AUDIT_QUEUES_CACHE_MS - 1)).toMatchObject({ deadLetters: 3 });
    expect(received).toHaveLength(1);
    expect(await readAuditQueues(config, now + AUDIT_QUEUES_CACHE_MS)).toMatchObject({ deadLetters: 7 });
    expect(received).toHaveLength(2);
  });

  it("says the reading failed when the token is refused, and the page says could not be read", async () => {
    const reading = await readAuditQueues(configured({ OPS_ANALYTICS_API_TOKEN: "wrong-token" }));
    expect(reading.state).toBe("unreadable");
    expect(reading).toMatchObject({ reason: expect.stringMatching(/not authorized for that account.*Account Analytics: Read/) });
    const panel = auditDelivery(null, reading);
    expect(panel).toContain("Audit dead letters");
    expect(panel).toContain('<dt>Audit dead letters</dt><dd><span class="value">–</span><span class="detail">could not be read');
    expect(panel).toContain(
      '<p class="problem" role="alert">The audit queues&#39; depth could not be read: Cloudflare&#39;s GraphQL API answered: not authorized for that account',
    );
  });

  it("surfaces the API's errors, an HTTP refusal, an unknown account and an unreachable API", async () => {
    answerWith = { status: 200, body: { data: null, errors: [{ message: "unknown field queueBacklogAdaptiveGroups" }] } };
    expect(await readAuditQueues(configured())).toMatchObject({
      state: "unreadable",
      reason: expect.stringContaining("unknown field queueBacklogAdaptiveGroups"),
    });
    answerWith = { status: 403, body: { success: false, errors: [{ code: 10000, message: "Authentication error" }] } };
    expect(await readAuditQueues(configured())).toMatchObject({
      state: "unreadable",
      reason: expect.stringContaining("refused the token (403)"),
    });
    answerWith = { status: 502, body: {} };
    expect(await readAuditQueues(configured())).toMatchObject({
      state: "unreadable",
      reason: expect.stringContaining("answered 502"),
    });
    answerWith = undefined;
    expect(await readAuditQueues(configured({ OPS_ANALYTICS_ACCOUNT_ID: "ffffffffffffffffffffffffffffffff" }))).toMatchObject({
      state: "unreadable",
      reason: expect.stringContaining("returned no account"),
    });
    expect(await readAuditQueues(configured({ OPS_QUEUES_GRAPHQL_URL: "http://127.0.0.1:1/graphql" }))).toMatchObject({
      state: "unreadable",
      reason: expect.stringContaining("could not be reached"),
    });
  });

  it("says what to configure without the queue ids, and that npm start cannot read them", async () => {
    const production = await readAuditQueues(edgeConfig({}));
    expect(production).toMatchObject({ state: "not-configured", reason: expect.stringContaining("OPS_DEAD_LETTER_QUEUE_ID") });
    const local = await readAuditQueues(edgeConfig({ PUBLIC_URL: "http://127.0.0.1:8787" }));
    expect(local).toMatchObject({ state: "local", reason: expect.stringContaining("wrangler dev") });
    expect(auditDelivery(null, local)).toContain(
      '<p class="note">The audit queues&#39; depth is not available locally: npm start runs the queues inside wrangler dev',
    );
    expect(auditDelivery(null, production)).toContain("depth is not configured: set OPS_AUDIT_QUEUE_ID");
    expect(received).toHaveLength(0);
  });

  it("shows the counts with the time of the reading, and flags dead letters", () => {
    const read = { state: "read", backlog: 1200, deadLetters: 4, readAt: "2026-03-01T12:00:05.000Z", windowMinutes: 10 } as const;
    const panel = auditDelivery({ p50Ms: 800, p95Ms: 2500, maxMs: 9000, newestAgeMs: 140_000 }, read);
    expect(panel).toContain("max 9,000 ms; the newest is 140.0 s old");
    const quiet = auditDelivery({ p50Ms: null, p95Ms: null, maxMs: null, newestAgeMs: null }, read);
    expect(quiet).toContain("none from the edge in the window");
    expect(panel).toMatch(/Audit queue backlog<\/dt><dd><span class="value">1,200/);
    expect(panel).toContain('<div class="tile bad"><dt>Audit dead letters</dt><dd><span class="value">4');
    expect(panel).toContain("read 12:00:05 UTC");
    expect(auditDelivery(null, { ...read, deadLetters: 0 })).not.toContain("tile bad");
  });

  it("counts the audit events the edge could not queue in the last day, from Analytics Engine, and alerts on any", async () => {
    notQueuedEvents = 7;
    const now = Date.parse("2026-03-01T12:00:00Z");
    const reading = await readAuditQueues(configured(), now);
    expect(reading).toMatchObject({ state: "read", notQueued: 7 });
    expect(sqlReceived).toHaveLength(1);
    expect(sqlReceived[0]).toContain("blob1 = 'audit.not_queued'");
    expect(sqlReceived[0]).toContain(`toDateTime(${now / 1000 - 86_400})`);
    expect(sqlReceived[0]).toContain("SUM(_sample_interval * double6)");
    expect(auditDelivery(null, reading)).toContain(
      '<p class="problem" role="alert">7 audit events not queued in the last 24 hours: the audit queue refused them',
    );
    expect(auditDelivery(null, { ...reading, notQueued: 0 })).not.toContain("not queued");
    // Read with the queues unreadable too: the two questions go to different APIs.
    notQueuedEvents = 2;
    const refused = await readAuditQueues(configured({ OPS_ANALYTICS_API_TOKEN: "wrong-token" }), now);
    expect(refused).toMatchObject({ state: "unreadable", notQueued: 2 });
  });

  it("refuses queue ids without the account and token to read them with, and malformed ids", () => {
    expect(() => edgeConfig({ OPS_AUDIT_QUEUE_ID: AUDIT_QUEUE, OPS_DEAD_LETTER_QUEUE_ID: DEAD_LETTER_QUEUE })).toThrow(
      /OPS_ANALYTICS_ACCOUNT_ID, OPS_ANALYTICS_API_TOKEN/,
    );
    expect(() => edgeConfig({ ...QUEUES_ENV, OPS_DEAD_LETTER_QUEUE_ID: "mcp-audit-dead-letter" })).toThrow(
      /expected a queue id \(wrangler queues info mcp-audit-dead-letter\)/,
    );
    const { OPS_DEAD_LETTER_QUEUE_ID: _left, ...withoutDeadLetter } = QUEUES_ENV;
    expect(() => edgeConfig(withoutDeadLetter)).toThrow(/ops\.queues\.deadLetterQueueId/);
    expect(edgeConfig(QUEUES_ENV).ops.queues).toEqual({ auditQueueId: AUDIT_QUEUE, deadLetterQueueId: DEAD_LETTER_QUEUE });
  });
});
