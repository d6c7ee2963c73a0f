import { randomUUID } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { storedValues } from "../../aws/origin/audit/columns.ts";
import { checkEvent, MAX_EVENT_DEPTH, registerAuditIngestRoute } from "../../aws/origin/audit/ingest-route.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import type { AssertionVariables } from "../../aws/origin/trust/require-assertion.ts";
import { fitText, MAX_AUDIT_TEXT_BYTES } from "../../contract/audit-event.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

// One event the database or the origin's own code cannot take must be refused alone (422 naming it): a 500 fails the
// whole delivery, which the queue retries for days and then parks, every event of it unstored.

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
});
afterAll(async () => {
  await db?.close();
});

const event = (server: string, extra: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  time: new Date().toISOString(),
  kind: "mcp.request",
  outcome: "ok",
  latencyMs: 1,
  server,
  method: "tools/call",
  tool: "echo",
  ...extra,
});

/** Posts the events; `raw` is JSON put in place of the event "raw" (JSON.stringify recurses, as the origin must not). */
async function ingest(events: unknown[], raw = "") {
  const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
  try {
    const response = await app.request("/audit/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events }).replace('"raw"', raw),
    });
    return { status: response.status, body: await response.json() };
  } finally {
    warned.mockRestore();
  }
}

const storedTools = async (server: string) =>
  (await db.pool.query("SELECT tool FROM audit_events WHERE server = $1", [server])).rows.map((row) => row.tool as string);

/** Pseudo-random CJK text: unlike a repeated character, it does not compress, so an index entry is as long as the text. */
function cjk(length: number): string {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length }, () => String.fromCharCode(0x4e00 + (next() % 20000))).join("");
}

const utf8 = (text: string) => Buffer.byteLength(text, "utf8");

describe("audit ingest: text too long for an index", () => {
  it("stores a 5000-character CJK tool name, cut to the bound, with the events of its batch", async () => {
    const name = cjk(5000);
    const events = [
      event("cjk"),
      event("cjk", { tool: name }),
      event("cjk", { tool: fitText(name) }) /* as an edge cuts it */,
      event("cjk"),
    ];
    const answer = await ingest(events);
    expect(answer).toEqual({ status: 200, body: expect.objectContaining({ inserted: 4 }) });
    const tools = await storedTools("cjk");
    expect(tools.filter((tool) => tool === "echo")).toHaveLength(2);
    for (const tool of tools.filter((tool) => tool !== "echo")) {
      expect(utf8(tool)).toBeLessThanOrEqual(MAX_AUDIT_TEXT_BYTES);
      expect(name.startsWith(tool.replace(/…\[truncated from 5000 characters\]$/, ""))).toBe(true);
    }
  });

  it("cuts every text column between characters, NULs and lone surrogates first made U+FFFD", () => {
    const values = storedValues({
      ...event("cut"),
      kind: "mcp.request",
      outcome: "ok",
      userEmail: `${"😀".repeat(100)}\0${"\ud800".repeat(3000)}`,
      userSub: "\u0001".repeat(5000),
    });
    const text = values.filter((value): value is string => typeof value === "string");
    for (const value of text) expect(utf8(value)).toBeLessThanOrEqual(MAX_AUDIT_TEXT_BYTES);
    expect(text).toContainEqual(expect.stringMatching(/^(😀){100}\ufffd+…\[truncated from 3201 characters\]$/u));
  });
});

describe("audit ingest: an event its checks cannot take", () => {
  it("refuses only an event nested thousands of levels deep, storing the others", async () => {
    const depth = 5000;
    const deep = JSON.stringify(event("deep")).replace(/}$/, `,"arguments":{"x":${"[".repeat(depth)}${"]".repeat(depth)}}}`);
    const answer = await ingest([event("deep"), "raw", event("deep")], deep);
    expect(answer.status).toBe(422);
    expect(answer.body).toEqual({
      error: "invalid_audit_events",
      inserted: 2,
      refused: [{ index: 1, problems: [expect.stringContaining(`nested more than ${MAX_EVENT_DEPTH} levels deep`)] }],
    });
    expect(await storedTools("deep")).toHaveLength(2);
  });

  it("takes arguments nested as deep as the limit", async () => {
    const depth = MAX_EVENT_DEPTH - 2; // the event, then its arguments object
    const deepest = { ...event("limit"), arguments: JSON.parse(`{"x":${"[".repeat(depth)}${"]".repeat(depth)}}`) };
    expect(await ingest([deepest])).toEqual({ status: 200, body: expect.objectContaining({ inserted: 1 }) });
  });

  it("refuses, alone, an event whose check throws, naming what failed and no value", () => {
    const throwing = new Proxy(event("throws"), {
      get: (target, key) => {
        if (key === "kind") throw new TypeError("a getter failed");
        return Reflect.get(target, key);
      },
    });
    expect(checkEvent(throwing)).toEqual({ problems: [expect.stringContaining("TypeError: a getter failed")] });
    expect(checkEvent(event("fine"))).toEqual({ event: expect.objectContaining({ server: "fine" }) });
  });

  it("refuses an event whose time PostgreSQL cannot store (year 0000), storing the others", async () => {
    const answer = await ingest([event("time"), event("time", { time: "0000-01-01T00:00:00Z" }), event("time")]);
    expect(answer.status).toBe(422);
    expect(answer.body).toEqual({
      error: "invalid_audit_events",
      inserted: 2,
      refused: [{ index: 1, problems: [expect.stringMatching(/^time: expected a time from 1970/)] }],
    });
    expect(await storedTools("time")).toHaveLength(2);
    for (const time of ["1969-12-31T23:59:59Z", "9999-12-31T23:59:59.999Z"])
      expect(checkEvent(event("time", { time })), time).toHaveProperty(time.startsWith("1969") ? "problems" : "event");
  });
});
