import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AuditFilter,
  answerBounds,
  encodeCursor,
  parseAuditFilter,
  searchAudit,
  searchAuditEvents,
} from "../../aws/origin/audit/search.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { AuditEvent } from "../../contract/audit-event.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

const START = Date.parse("2026-03-01T00:00:00.000Z");
const HOUR = 3_600_000;

function event(hour: number, fields: Partial<AuditEvent> = {}): AuditEvent {
  return AuditEvent.parse({
    id: randomUUID(),
    time: new Date(START + hour * HOUR).toISOString(),
    kind: "mcp.request",
    outcome: "ok",
    latencyMs: 5,
    ...fields,
  });
}

// Hours 0..9, a few users, servers, tools and outcomes; two events share hour 5 (the id decides their order).
const EVENTS: AuditEvent[] = [
  event(0, { userSub: "sub-ada", userEmail: "ada@example.com", server: "github", tool: "create_issue" }),
  event(1, { userSub: "sub-ada", userEmail: "ada@example.com", server: "github", tool: "list_issues", outcome: "error" }),
  event(2, { userSub: "sub-bob", userEmail: "bob@example.com", server: "docs", tool: "search", outcome: "tool_error" }),
  event(3, { userSub: "sub-bob", server: "github", tool: "create_pr", outcome: "denied" }),
  event(4, { kind: "auth.denied", outcome: "denied", userEmail: "eve@example.com" }),
  event(5, { userSub: "sub-ada", server: "docs", tool: "read_file" }),
  event(5, { userSub: "sub-ada", server: "docs", tool: "readXfile" }),
  event(6, { userSub: "x' OR '1'='1", server: "docs", tool: "%" }),
  event(7, { userSub: "sub-cy", server: "files", tool: "create_issue", outcome: "unavailable" }),
  event(8, { kind: "auth.sign_in", userSub: "sub-cy", userEmail: "cy@example.com" }),
];

const newestFirst = (events: AuditEvent[]) =>
  [...events].sort((a, b) => b.time.localeCompare(a.time) || b.id.localeCompare(a.id));

function filter(input: Record<string, string | string[]>): AuditFilter {
  const parsed = parseAuditFilter(input);
  if ("problems" in parsed) throw new Error(parsed.problems.join("; "));
  return parsed.filter;
}

const problemsOf = (input: Record<string, string | string[]>) => {
  const parsed = parseAuditFilter(input);
  return "problems" in parsed ? parsed.problems : [];
};

describe("audit search", () => {
  let db: TestDatabase;
  const find = async (input: Record<string, string | string[]>) => (await searchAuditEvents(db.pool, filter(input))).events;
  const expected = (keep: (event: AuditEvent) => boolean) => newestFirst(EVENTS.filter(keep));

  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
    await createAuditStore(db.pool).insert(EVENTS);
  });
  afterAll(async () => {
    await db?.close();
  });

  it("returns every event, newest first, without filters", async () => {
    expect(await find({})).toEqual(newestFirst(EVENTS));
  });

  it("narrows by user, matching the subject or the e-mail exactly", async () => {
    expect(await find({ user: "sub-ada" })).toEqual(expected((e) => e.userSub === "sub-ada"));
    expect(await find({ user: "bob@example.com" })).toEqual(expected((e) => e.userEmail === "bob@example.com"));
    expect(await find({ user: "sub" })).toEqual([]);
  });

  it("narrows by server", async () => {
    expect(await find({ server: "docs" })).toEqual(expected((e) => e.server === "docs"));
  });

  it("narrows by tool, exactly or by a prefix whose _ and % are plain characters", async () => {
    expect(await find({ tool: "create_issue" })).toEqual(expected((e) => e.tool === "create_issue"));
    expect(await find({ tool: "create_*" })).toEqual(expected((e) => e.tool?.startsWith("create_") === true));
    // `_` would match any character in LIKE: read_* must not find readXfile.
    expect(await find({ tool: "read_*" })).toEqual(expected((e) => e.tool === "read_file"));
    expect(await find({ tool: "%*" })).toEqual(expected((e) => e.tool === "%"));
  });

  it("narrows by one or more outcomes, as a list or comma-separated", async () => {
    const errors = expected((e) => e.outcome === "error" || e.outcome === "tool_error");
    expect(await find({ outcome: "error,tool_error" })).toEqual(errors);
    expect(await find({ outcome: ["error", "tool_error"] })).toEqual(errors);
  });

  it("narrows by kind", async () => {
    expect(await find({ kind: "auth.denied,auth.sign_in" })).toEqual(expected((e) => e.kind.startsWith("auth.")));
  });

  it("narrows by time: from inclusive, to exclusive, with any zone", async () => {
    const between = expected((e) => e.time >= "2026-03-01T02:00:00.000Z" && e.time < "2026-03-01T05:00:00.000Z");
    expect(between).toHaveLength(3);
    expect(await find({ from: "2026-03-01T02:00:00Z", to: "2026-03-01T05:00:00Z" })).toEqual(between);
    expect(await find({ from: "2026-03-01T03:00:00+01:00", to: "2026-03-01T06:00:00+01:00" })).toEqual(between);
    expect(await find({ to: "2026-03-01" })).toEqual([]);
    expect(await find({ from: "2026-03-02" })).toEqual([]);
  });

  it("combines filters", async () => {
    expect(await find({ user: "sub-ada", server: "github", outcome: "ok" })).toEqual([EVENTS[0]]);
  });

  it("takes values that look like SQL as values", async () => {
    expect(await find({ user: "x' OR '1'='1" })).toEqual([EVENTS[7]]);
    expect(await find({ server: "docs' OR 1=1 --" })).toEqual([]);
    expect(await find({ tool: "'; DROP TABLE audit_events; --" })).toEqual([]);
    expect(await find({})).toHaveLength(EVENTS.length);
  });

  it("pages through every event exactly once, however the pages fall", async () => {
    for (const limit of [1, 2, 3, 4, 9, 10, 11]) {
      const seen: AuditEvent[] = [];
      let cursor: string | undefined;
      for (let round = 0; round < 20; round++) {
        const page = await searchAuditEvents(
          db.pool,
          filter(cursor ? { limit: String(limit), cursor } : { limit: String(limit) }),
        );
        seen.push(...page.events);
        cursor = page.nextCursor;
        if (!cursor) break;
      }
      expect(seen, `pages of ${limit}`).toEqual(newestFirst(EVENTS));
    }
  });

  it("reads a search in pages of the requested size, up to its limit", async () => {
    const search = searchAudit(db.pool, filter({ limit: "7" }), { pageSize: 3 });
    const sizes: number[] = [];
    for await (const page of search.pages) sizes.push(page.length);
    expect(sizes).toEqual([3, 3, 1]);
    expect(search.nextCursor()).toEqual(expect.any(String));
  });

  it("finds the limit's boundary before reading, and reads down to it", async () => {
    const { through: boundary, more } = await answerBounds(db.pool, filter({ limit: "4" }));
    expect(boundary?.id).toBe(newestFirst(EVENTS)[3]?.id);
    expect(more).toBe(true);
    const search = searchAudit(db.pool, filter({ limit: "4" }), { through: boundary, pageSize: 3 });
    const seen: AuditEvent[] = [];
    for await (const page of search.pages) seen.push(...page);
    expect(seen).toEqual(newestFirst(EVENTS).slice(0, 4));
    const next = await searchAuditEvents(db.pool, filter({ cursor: encodeCursor(boundary ?? { time: "", id: "" }) }));
    expect(next.events).toEqual(newestFirst(EVENTS).slice(4));
  });

  it("ends an answer that holds every match at the last match, and one that holds none nowhere", async () => {
    const all = await answerBounds(db.pool, filter({ limit: String(EVENTS.length) }));
    expect(all).toEqual({ through: expect.objectContaining({ id: newestFirst(EVENTS).at(-1)?.id }), more: false });
    const roomy = await answerBounds(db.pool, filter({ limit: String(EVENTS.length + 5) }));
    expect(roomy.through?.id).toBe(newestFirst(EVENTS).at(-1)?.id);
    expect(await answerBounds(db.pool, filter({ server: "no-such-server" }))).toEqual({ more: false });
    const one = await answerBounds(db.pool, filter({ limit: "1" }));
    expect(one).toEqual({ through: expect.objectContaining({ id: newestFirst(EVENTS)[0]?.id }), more: true });
  });

  it("orders to the microsecond across pages", async () => {
    // Three rows a microsecond apart, on a server of their own: a cursor rounded to the millisecond would skip or repeat them.
    await db.pool.query(`INSERT INTO audit_events (id, time, kind, server, outcome, latency_ms)
      SELECT gen_random_uuid(), '2026-04-01T00:00:00.000001Z'::timestamptz + n * interval '1 microsecond', 'mcp.request', 'micro', 'ok', 1
      FROM generate_series(0, 2) AS n`);
    try {
      const ids: string[] = [];
      let cursor: string | undefined;
      for (let round = 0; round < 5; round++) {
        const page = await searchAuditEvents(db.pool, filter({ server: "micro", limit: "1", ...(cursor ? { cursor } : {}) }));
        ids.push(...page.events.map((e) => e.id));
        cursor = page.nextCursor;
        if (!cursor) break;
      }
      expect(ids).toHaveLength(3);
      expect(new Set(ids).size).toBe(3);
    } finally {
      await db.pool.query("DELETE FROM audit_events WHERE server = 'micro'");
    }
  });
});

describe("audit search filters", () => {
  it("applies the default limit", () => {
    expect(filter({})).toEqual({ limit: 1000 });
  });

  it("normalizes a whole date to midnight UTC and splits lists", () => {
    expect(filter({ from: "2026-03-01", outcome: "ok, error", kind: ["auth.denied"], limit: "50000" })).toEqual({
      from: "2026-03-01T00:00:00Z",
      outcome: ["ok", "error"],
      kind: ["auth.denied"],
      limit: 50_000,
    });
  });

  it("refuses bad filters, naming each one and what it expected", () => {
    expect(problemsOf({ usr: "ada" })).toEqual([
      "usr: not a filter (expected one of user, server, tool, outcome, kind, from, to, limit, cursor)",
    ]);
    expect(problemsOf({ outcome: "ok,maybe" })).toEqual([
      'outcome: expected one of ok, error, tool_error, denied, unavailable, cancelled, input_required; got "maybe"',
    ]);
    expect(problemsOf({ kind: "mcp.call" })[0]).toMatch(/^kind: expected one of mcp\.request, auth\.sign_in.*; got "mcp\.call"$/);
    expect(problemsOf({ from: "yesterday" })).toEqual([
      'from: expected an ISO 8601 date or time with its zone, such as 2026-03-01 or 2026-03-01T12:00:00Z; got "yesterday"',
    ]);
    expect(problemsOf({ to: "2026-03-01T12:00:00" })[0]).toMatch(/^to: expected an ISO 8601 date or time with its zone/);
    expect(problemsOf({ from: "2026-03-02", to: "2026-03-01" })).toEqual(["to: expected a time after from (to is exclusive)"]);
    expect(problemsOf({ limit: "0" })).toEqual(["limit: expected a whole number from 1 to 50000"]);
    expect(problemsOf({ limit: "50001" })).toEqual(["limit: expected at most 50000; page on with the cursor for more"]);
    expect(problemsOf({ limit: "ten" })).toEqual(['limit: expected a whole number from 1 to 50000; got "ten"']);
    expect(problemsOf({ tool: "git*hub" })[0]).toMatch(/^tool: .*a \* may only come last$/);
    expect(problemsOf({ user: "" })).toEqual(["user: expected a non-empty value"]);
    expect(problemsOf({ user: ["a", "b"] })).toEqual(["user: expected it once; it was given 2 times"]);
    expect(problemsOf({ cursor: "bm90IGEgY3Vyc29y" })).toEqual([
      "cursor: expected a cursor exactly as a previous search returned it",
    ]);
  });

  it("reports every problem at once", () => {
    expect(problemsOf({ outcome: "maybe", limit: "0", server: "" }).map((p) => p.split(":")[0])).toEqual([
      "server",
      "outcome",
      "limit",
    ]);
  });
});
