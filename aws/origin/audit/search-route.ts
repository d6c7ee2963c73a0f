import { randomUUID } from "node:crypto";
import type { Hono, MiddlewareHandler } from "hono";
import type pg from "pg";
import { AUDIT_INGEST_PATH, type AuditEvent } from "../../../contract/audit-event.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import { CONTENT_TYPES, EXPORT_FORMATS, type ExportFormat, serializeEvents } from "./export.ts";
import { RepeatedSearches } from "./repeated-searches.ts";
import { answerBounds, encodeCursor, parseAuditFilter, searchAudit } from "./search.ts";

type OriginEnv = { Variables: AssertionVariables };

/** The ingest's path: POST delivers events, GET searches them. */
export const AUDIT_SEARCH_PATH = AUDIT_INGEST_PATH;

/** Names the cursor that continues the search, when the limit cut it short (absent when nothing more matches). */
export const NEXT_CURSOR_HEADER = "x-audit-next-cursor";

/**
 * `GET /audit/events?user=…&server=…&tool=…&outcome=…&kind=…&from=…&to=…&limit=…&cursor=…&format=csv|json`: audit
 * search for the ops dashboard, behind the edge assertion with `purpose: "ops"`. Without a database (`db`
 * undefined) there is nothing to search and no route.
 */
export function registerAuditSearchRoute(
  app: Hono<OriginEnv>,
  guarded: MiddlewareHandler<OriginEnv>,
  db: pg.Pool | undefined,
  audit: (event: AuditEvent) => Promise<unknown>,
): void {
  if (!db) return;
  const repeated = new RepeatedSearches();
  app.get(AUDIT_SEARCH_PATH, guarded, async (c) => {
    const { purpose, sub, email } = c.var.assertion;
    if (purpose !== "ops") {
      const detail = `audit search needs an assertion with purpose "ops"; this one's purpose is "${purpose}"`;
      return c.json({ error: "invalid_edge_assertion", reason: "purpose", detail }, 403);
    }
    const { format: formats = ["json"], ...filters } = c.req.queries();
    const format = formats.length === 1 ? EXPORT_FORMATS.find((known) => known === formats[0]) : undefined;
    const parsed = parseAuditFilter(filters);
    const problems = "problems" in parsed ? parsed.problems : [];
    if (!format) problems.unshift(`format: expected one of ${EXPORT_FORMATS.join(", ")}, once; got ${formats.join(", ")}`);
    if (!format || "problems" in parsed) return c.json({ error: "invalid_audit_search", problems }, 400);

    // Who read the audit trail is itself worth keeping, in the trail (the filters name users: never in a log line).
    // A search that cannot be recorded is not served. The same one again soon (the live tail's) is recorded once.
    const query = new URL(c.req.url).search;
    if (repeated.due(sub, query)) {
      await audit(searchedEvent(sub, email, query));
      repeated.recorded(sub, query);
    }
    // Asked before the first byte is sent, the bounds end the answer at a row and name the next page's cursor. Rows,
    // not a REPEATABLE READ snapshot: pages are read as the client takes them, and a transaction would hold one of
    // the pool's connections (shared with every MCP request) for as long as a slow client reads an export. Between
    // pages no connection is held; a match stored meanwhile above `through` is served too, none is pushed out.
    const { through, more } = await answerBounds(db, parsed.filter);
    const pages = through ? searchAudit(db, parsed.filter, { through }).pages : nothing();
    const headers = new Headers({ "content-type": CONTENT_TYPES[format], "cache-control": "no-store" });
    if (through && more) headers.set(NEXT_CURSOR_HEADER, encodeCursor(through));
    if (format === "csv") headers.set("content-disposition", 'attachment; filename="audit-events.csv"');
    return new Response(streamOf(serializeEvents(pages, format as ExportFormat)), { headers });
  });
}

/** The pages of a search that matched nothing when its bounds were asked (what matches later is not this answer's). */
async function* nothing(): AsyncGenerator<AuditEvent[], void, undefined> {}

/** Text chunks as a byte stream that asks for the next page only when the client has taken the last one. */
function streamOf(chunks: AsyncGenerator<string>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(encoder.encode(value));
      } catch (error) {
        // The status is already sent: cut the answer short, so the client sees it incomplete rather than ended.
        console.error(`audit search failed while streaming: ${String(error)}`);
        controller.error(error);
      }
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}

/** The `audit.searched` event of one search: who asked, and what (the query as asked, filters and format). */
function searchedEvent(sub: string, email: string | undefined, query: string): AuditEvent {
  return {
    id: randomUUID(),
    time: new Date().toISOString(),
    kind: "audit.searched",
    userSub: sub,
    userEmail: email,
    method: "GET /audit/events",
    outcome: "ok",
    latencyMs: 0,
    arguments: { query: query.slice(1) },
  };
}
