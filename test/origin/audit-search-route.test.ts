import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csvHeader } from "../../aws/origin/audit/export.ts";
import { NEXT_CURSOR_HEADER } from "../../aws/origin/audit/search-route.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { type OriginUnderTest, originUnderTest } from "./origin-under-test.ts";

let database: TestDatabase;
let origin: OriginUnderTest;

const events: AuditEvent[] = Array.from({ length: 5 }, (_, i) => ({
  id: randomUUID(),
  time: new Date(Date.parse("2026-03-01T00:00:00Z") + i * 1000).toISOString(),
  kind: "mcp.request",
  outcome: i === 0 ? "error" : "ok",
  server: i % 2 === 0 ? "github" : "docs",
  tool: i === 4 ? "=cmd" : "search",
  userSub: "sub-ada",
  latencyMs: 2,
}));
const newestFirst = [...events].reverse();

beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
  await createAuditStore(database.pool).insert(events);
  origin = await originUnderTest({ database });
});
afterAll(async () => {
  await database?.close();
});

const assertion = (purpose: string | undefined) =>
  origin.edge.sign({ sub: "admin-1", client_id: "ops-dashboard", ...(purpose ? { purpose } : {}) });

/** `purpose` "none" signs an assertion without one (which means "mcp"); `token` null sends no assertion. */
async function search(query: string, purpose = "ops", token?: string | null) {
  const headers: Record<string, string> = {};
  if (token !== null) headers[EDGE_ASSERTION_HEADER] = token ?? (await assertion(purpose === "none" ? undefined : purpose));
  return origin.app.request(`/audit/events${query}`, { headers });
}

const ndjson = async (response: Response) =>
  (await response.text())
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));

describe("GET /audit/events", () => {
  it("refuses a request without an assertion", async () => {
    const response = await search("", "ops", null);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "invalid_edge_assertion", reason: "missing" });
  });

  it("refuses an assertion for MCP or for audit delivery, naming its purpose", async () => {
    for (const purpose of ["mcp", "audit-delivery", "none"]) {
      const response = await search("", purpose);
      expect(response.status).toBe(403);
      const body = (await response.json()) as { reason: string; detail: string };
      expect(body.reason).toBe("purpose");
      expect(body.detail).toContain(`this one's purpose is "${purpose === "none" ? "mcp" : purpose}"`);
    }
  });

  it("answers an ops assertion with the matching events as NDJSON, newest first", async () => {
    const response = await search("?server=github");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    expect(response.headers.get(NEXT_CURSOR_HEADER)).toBeNull();
    expect(await ndjson(response)).toEqual(newestFirst.filter((event) => event.server === "github"));
  });

  it("exports CSV with formulas defused", async () => {
    const response = await search("?format=csv&outcome=ok&outcome=error&kind=mcp.request");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toContain("audit-events.csv");
    const text = await response.text();
    expect(text.startsWith(csvHeader())).toBe(true);
    expect(text.split("\r\n").filter(Boolean)).toHaveLength(1 + events.length);
    expect(text).toContain(",'=cmd,");
  });

  it("pages with the cursor it names in a header", async () => {
    const first = await search("?limit=2&kind=mcp.request");
    const cursor = first.headers.get(NEXT_CURSOR_HEADER);
    expect(await ndjson(first)).toEqual(newestFirst.slice(0, 2));
    expect(cursor).toEqual(expect.any(String));
    const second = await search(`?limit=2&kind=mcp.request&cursor=${encodeURIComponent(cursor ?? "")}`);
    expect(await ndjson(second)).toEqual(newestFirst.slice(2, 4));
    const third = await search(
      `?limit=2&kind=mcp.request&cursor=${encodeURIComponent(second.headers.get(NEXT_CURSOR_HEADER) ?? "")}`,
    );
    expect(third.headers.get(NEXT_CURSOR_HEADER)).toBeNull();
    expect(await ndjson(third)).toEqual(newestFirst.slice(4));
  });

  it("refuses bad filters with 400 and every problem", async () => {
    const response = await search("?outcome=maybe&limit=0&usr=x&format=xml&user=a&user=b");
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; problems: string[] };
    expect(body.error).toBe("invalid_audit_search");
    expect(body.problems.map((problem) => problem.split(":")[0]).sort()).toEqual(["format", "limit", "outcome", "user", "usr"]);
    // A NUL in a name filter is the caller's error, not the database's (s23 hunt fuzz F5).
    for (const filter of ["user", "server", "tool"]) {
      const nul = await search(`?${filter}=a%00b`);
      expect(nul.status, filter).toBe(400);
      expect(((await nul.json()) as { problems: string[] }).problems, filter).toEqual([`${filter}: expected no NUL character`]);
    }
  });

  it("records each search in the trail itself (who, and what was asked), never in a log line", async () => {
    const logged: unknown[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => logged.push(args);
    try {
      expect((await search("?user=ada%40example.com&server=docs")).status).toBe(200);
    } finally {
      console.log = log;
    }
    expect(logged).toEqual([]);
    // Newest first: this search of the searches, recorded before it ran, then the one above.
    const recorded = await ndjson(await search("?kind=audit.searched&limit=2"));
    expect(recorded).toEqual([
      expect.objectContaining({ arguments: { query: "kind=audit.searched&limit=2" } }),
      expect.objectContaining({
        kind: "audit.searched",
        userSub: "admin-1",
        outcome: "ok",
        arguments: { query: "user=ada%40example.com&server=docs" },
      }),
    ]);
  });

  // s24 hunt observability F10: the dashboard's live tail asks the same search every five seconds.
  it("records the same search by the same administrator once within the repeat window; another search, or admin, again", async () => {
    const tail = `?kind=mcp.request&limit=3&format=json&server=${randomUUID()}`;
    for (let n = 0; n < 3; n++) expect((await search(tail)).status).toBe(200);
    const other = await origin.edge.sign({ sub: "admin-2", client_id: "ops-dashboard", purpose: "ops" });
    expect((await search(tail, "ops", other)).status).toBe(200);
    expect((await search(`${tail}&tool=search`)).status).toBe(200);
    const recorded = await ndjson(await search("?kind=audit.searched&limit=1000"));
    const ofTail = recorded.filter((event) => String(event.arguments?.query).includes(tail.slice(1)));
    expect(ofTail.map((event) => [event.userSub, event.arguments.query])).toEqual([
      ["admin-1", `${tail.slice(1)}&tool=search`],
      ["admin-2", tail.slice(1)],
      ["admin-1", tail.slice(1)],
    ]);
  });

  it("does not serve a search it could not record, nor, unrecorded, the same search asked again", async () => {
    const store = createAuditStore(database.pool);
    let failing = true;
    const insert: typeof store.insert = async (rows) => {
      if (failing) throw new Error("the audit database refused the row");
      return store.insert(rows);
    };
    const refusing = await originUnderTest({ database, parts: { auditStore: { ...store, insert } } });
    const query = `?kind=mcp.request&limit=1&server=${randomUUID()}`;
    const ask = async () => {
      const token = await refusing.edge.sign({ sub: "admin-1", client_id: "ops-dashboard", purpose: "ops" });
      return refusing.app.request(`/audit/events${query}`, { headers: { [EDGE_ASSERTION_HEADER]: token } });
    };
    expect((await ask()).status).toBe(500);
    failing = false;
    expect((await ask()).status).toBe(200);
    const recorded = await ndjson(await search("?kind=audit.searched&limit=1000"));
    expect(recorded.filter((event) => event.arguments?.query === query.slice(1))).toHaveLength(1);
  });

  it("takes SQL-looking values as values", async () => {
    const response = await search(`?user=${encodeURIComponent("' OR 1=1 --")}`);
    expect(response.status).toBe(200);
    expect(await ndjson(response)).toEqual([]);
  });
});

describe("GET /audit/events while events arrive", () => {
  const at = (second: number, server: string): AuditEvent => ({
    id: randomUUID(),
    time: new Date(Date.parse("2026-04-01T00:00:00Z") + second * 1000).toISOString(),
    kind: "mcp.request",
    outcome: "ok",
    server,
    latencyMs: 1,
  });

  /** An origin whose search stores `arriving` right after the route's first query (where it fixes the answer's bounds). */
  async function racingOrigin(arriving: AuditEvent): Promise<OriginUnderTest> {
    const store = createAuditStore(database.pool);
    let arrived = false;
    const query = async (...args: Parameters<typeof database.pool.query>) => {
      const result = await (database.pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
      if (!arrived) {
        arrived = true;
        await store.insert([arriving]);
      }
      return result;
    };
    const pool = Object.assign(Object.create(database.pool), { query });
    return originUnderTest({ database, parts: { auditDatabase: pool } });
  }

  async function searchOn(racing: OriginUnderTest, query: string) {
    const token = await racing.edge.sign({ sub: "admin-1", client_id: "ops-dashboard", purpose: "ops" });
    return racing.app.request(`/audit/events${query}`, { headers: { [EDGE_ASSERTION_HEADER]: token } });
  }

  it("serves every match when all fit in the limit, though one arrives meanwhile (none pushed out unannounced)", async () => {
    const stored = [at(1, "race-fit"), at(2, "race-fit"), at(3, "race-fit")];
    await createAuditStore(database.pool).insert(stored);
    const arriving = at(60, "race-fit");
    const racing = await racingOrigin(arriving);
    const response = await searchOn(racing, "?server=race-fit&limit=3");
    expect(response.headers.get(NEXT_CURSOR_HEADER)).toBeNull();
    const newestFirst = [arriving, ...stored.reverse()].map((event) => event.id);
    expect((await ndjson(response)).map((event: AuditEvent) => event.id)).toEqual(newestFirst);
  });

  it("ends an answer cut by the limit at its boundary, and continues from it, though one arrives meanwhile", async () => {
    const stored = [at(1, "race-more"), at(2, "race-more"), at(3, "race-more")];
    await createAuditStore(database.pool).insert(stored);
    const arriving = at(60, "race-more");
    const racing = await racingOrigin(arriving);
    const first = await searchOn(racing, "?server=race-more&limit=2");
    const cursor = first.headers.get(NEXT_CURSOR_HEADER) ?? "";
    expect((await ndjson(first)).map((event: AuditEvent) => event.id)).toEqual([arriving.id, stored[2]?.id, stored[1]?.id]);
    const rest = await searchOn(racing, `?server=race-more&limit=2&cursor=${encodeURIComponent(cursor)}`);
    expect(rest.headers.get(NEXT_CURSOR_HEADER)).toBeNull();
    expect((await ndjson(rest)).map((event: AuditEvent) => event.id)).toEqual([stored[0]?.id]);
  });

  it("serves nothing, and no cursor, when nothing matched as it began", async () => {
    const racing = await racingOrigin(at(60, "race-none"));
    const response = await searchOn(racing, "?server=race-none&limit=3&format=csv");
    expect(response.headers.get(NEXT_CURSOR_HEADER)).toBeNull();
    expect(await response.text()).toBe(csvHeader());
  });
});
