import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
// @ts-expect-error: plain JavaScript, run by Lambda as it is
import { createHandler } from "../../aws/cdk/service/audit-queue-metrics/index.mjs";

interface Received {
  authorization: string | undefined;
  body: { query: string; variables: Record<string, string> };
}

/** A stand-in for Cloudflare's GraphQL Analytics API answering the backlog query with fixed numbers. */
async function startFakeGraphql(answer: () => { status: number; body: unknown }) {
  const received: Received[] = [];
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    received.push({ authorization: request.headers.authorization, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
    const { status, body } = answer();
    response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4/graphql`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("audit queue metrics (Cloudflare GraphQL to CloudWatch embedded metrics)", () => {
  let reply: { status: number; body: unknown };
  let fake: Awaited<ReturnType<typeof startFakeGraphql>>;
  const lines: string[] = [];
  const handler = () =>
    createHandler({
      env: {
        TOKEN_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:token",
        CLOUDFLARE_ACCOUNT_ID: "a".repeat(32),
        AUDIT_QUEUE_ID: "b".repeat(32),
        DEAD_LETTER_QUEUE_ID: "c".repeat(32),
        CLOUDFLARE_GRAPHQL_URL: fake.url,
      },
      readToken: async () => "placeholder-token\n",
      log: (line: string) => lines.push(line),
      now: () => Date.parse("2026-11-29T12:00:00Z"),
    });

  beforeAll(async () => {
    fake = await startFakeGraphql(() => reply);
  });
  afterAll(async () => {
    await fake?.close();
  });
  beforeEach(() => {
    lines.length = 0;
    fake.received.length = 0;
  });

  it("queries both queues for the last ten minutes and prints their backlog as metrics", async () => {
    reply = {
      status: 200,
      body: {
        data: { viewer: { accounts: [{ audit: [{ avg: { messages: 41.6 } }], deadLetter: [{ avg: { messages: 3 } }] }] } },
      },
    };
    expect(await handler()()).toEqual({ AuditQueueBacklog: 42, AuditDeadLetterBacklog: 3 });
    const [request] = fake.received;
    expect(request?.authorization).toBe("Bearer placeholder-token");
    expect(request?.body.variables).toEqual({
      accountTag: "a".repeat(32),
      audit: "b".repeat(32),
      deadLetter: "c".repeat(32),
      start: "2026-11-29T11:50:00.000Z",
      end: "2026-11-29T12:00:00.000Z",
    });
    expect(request?.body.query).toContain("queueBacklogAdaptiveGroups");
    const emf = JSON.parse(lines[0] ?? "{}");
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe("McpEdgeProxy/Audit");
    expect(emf._aws.CloudWatchMetrics[0].Metrics.map((metric: { Name: string }) => metric.Name)).toEqual([
      "AuditQueueBacklog",
      "AuditDeadLetterBacklog",
    ]);
    expect(emf).toMatchObject({ AuditQueueBacklog: 42, AuditDeadLetterBacklog: 3 });
  });

  it("counts a queue without rows in the window as empty", async () => {
    reply = { status: 200, body: { data: { viewer: { accounts: [{ audit: [], deadLetter: [] }] } } } };
    expect(await handler()()).toEqual({ AuditQueueBacklog: 0, AuditDeadLetterBacklog: 0 });
  });

  it("fails loudly, naming the fix, when Cloudflare refuses the token", async () => {
    reply = { status: 200, body: { data: null, errors: [{ message: "not authorized for that account" }] } };
    await expect(handler()()).rejects.toThrow(/not authorized for that account \(the token needs Account Analytics: Read\)/);
    expect(lines).toEqual([]);
  });
});
