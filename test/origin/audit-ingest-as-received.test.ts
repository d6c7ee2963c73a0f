import { randomUUID } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { COLUMN_LIST, toEvent } from "../../aws/origin/audit/columns.ts";
import { checkEvent, registerAuditIngestRoute } from "../../aws/origin/audit/ingest-route.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import type { AssertionVariables } from "../../aws/origin/trust/require-assertion.ts";
import { auditArguments, DEFAULT_REDACTION_RULES } from "../../contract/audit-redaction.ts";
import { verifyAll } from "./audit-chain-fixture.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

// The row must hold what the edge queued (found by the s21 audit-durability hunt, D1 and D9): zod's output dropped
// `__proto__` keys the upstream acted on, and a slightly negative latency refused the event for good.

type Env = { Variables: AssertionVariables };

let db: TestDatabase;
let app: Hono<Env>;
beforeAll(async () => {
  db = await withTestDatabase();
  await migrate(db.pool);
  app = new Hono<Env>();
  const asEdge: MiddlewareHandler<Env> = async (c, next) => {
    c.set("assertion", { purpose: "audit-delivery" } as AssertionVariables["assertion"]);
    await next();
  };
  registerAuditIngestRoute(app, asEdge, createAuditStore(db.pool));
}, 60_000);
afterAll(async () => {
  await db?.close();
});

const event = (extra: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  time: new Date().toISOString(),
  kind: "mcp.request",
  outcome: "ok",
  latencyMs: 1,
  server: "as-received",
  method: "tools/call",
  tool: "write_document",
  ...extra,
});

/** Posts a body as the edge's delivery does (JSON text: the route parses it, as it parses the edge's). */
async function ingest(body: string) {
  const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
  try {
    const response = await app.request("/audit/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    return { status: response.status, body: await response.json() };
  } finally {
    warned.mockRestore();
  }
}

const storedRow = async (id: string) => {
  const { rows } = await db.pool.query(`SELECT ${COLUMN_LIST} FROM audit_events WHERE id = $1`, [id]);
  return rows[0] as Record<string, unknown> | undefined;
};

describe("audit ingest stores the arguments the edge queued", () => {
  it("keeps `__proto__` keys, nested and at the top, hashed as stored; verify passes, and tampering is still found", async () => {
    // A client's arguments as the edge parses them (JSON.parse: `__proto__` is an own key), redacted by the edge.
    const clientArguments = JSON.parse(
      '{"path":"/srv/doc.json","document":{"title":"q3","__proto__":{"owner":"mallory","acl":"public","token":"t-1"}},"__proto__":{"note":"top"}}',
    );
    const queued = JSON.stringify({ events: [event({ arguments: auditArguments(clientArguments, DEFAULT_REDACTION_RULES) })] });
    expect(queued).toContain('"__proto__":{"owner":"mallory","acl":"public","token":"[REDACTED]"}');
    const sent = JSON.parse(queued).events[0];

    expect(await ingest(queued)).toEqual({ status: 200, body: expect.objectContaining({ inserted: 1 }) });
    const row = await storedRow(sent.id);
    expect(row?.arguments).toBe(
      '{"__proto__":{"note":"top"},"document":{"__proto__":{"acl":"public","owner":"mallory","token":"[REDACTED]"},"title":"q3"},"path":"/srv/doc.json"}',
    );
    expect(toEvent(row ?? {}).arguments).toEqual(sent.arguments);
    expect((await verifyAll(db.pool)).problems).toEqual([]);

    // The row as the origin used to store it (the keys dropped) no longer matches its hash.
    await db.pool.query("UPDATE audit_events SET arguments = $2 WHERE id = $1", [
      sent.id,
      '{"document":{"title":"q3"},"path":"/srv/doc.json"}',
    ]);
    expect((await verifyAll(db.pool)).problems).toEqual([expect.objectContaining({ kind: "content_hash" })]);
    await db.pool.query("UPDATE audit_events SET arguments = $2 WHERE id = $1", [sent.id, row?.arguments]);
    expect((await verifyAll(db.pool)).problems).toEqual([]);
  });

  it("checks what zod skips under a `__proto__` key: JSON values only, and the size bound", () => {
    const infinite = JSON.parse('{"arguments":{"a":{"__proto__":{"n":1e400}}}}').arguments;
    expect(checkEvent(event({ arguments: infinite }))).toEqual({ problems: [expect.stringContaining("JSON values only")] });
    const large = JSON.parse(`{"arguments":{"a":{"__proto__":{"pad":"${"x".repeat(9000)}"}}}}`).arguments;
    expect(checkEvent(event({ arguments: large }))).toEqual({ problems: [expect.stringContaining("at most 8192 bytes")] });
  });
});

describe("audit ingest: a negative latency (a session object's clock behind the Worker's)", () => {
  it("stores the event with latency 0 instead of refusing it, and verify passes", async () => {
    const skewed = event({ latencyMs: -3 });
    const answer = await ingest(JSON.stringify({ events: [skewed, event()] }));
    expect(answer).toEqual({ status: 200, body: expect.objectContaining({ inserted: 2 }) });
    expect((await storedRow(skewed.id))?.latency_ms).toBe(0);
    expect((await verifyAll(db.pool)).problems).toEqual([]);
  });

  it("still refuses a latency that is no number", () => {
    expect(checkEvent(event({ latencyMs: "-3" }))).toEqual({ problems: [expect.stringContaining("latencyMs")] });
  });
});
