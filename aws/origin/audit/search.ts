import type pg from "pg";
import { z } from "zod";
import { AuditEvent, AuditOutcome } from "../../../contract/audit-event.ts";

/** Rows a search returns unless told otherwise, and the most it may ask for. */
export const DEFAULT_SEARCH_LIMIT = 1000;
export const MAX_SEARCH_LIMIT = 50_000;

/** Rows fetched per statement: a large export is read page by page, never held whole. */
export const SEARCH_PAGE_SIZE = 1000;

/** Where a page ended, in the search order (time, then id, both descending). */
export interface Position {
  /** The row's time to the microsecond, as PostgreSQL holds it (a JavaScript Date would round it). */
  time: string;
  id: string;
}

const POSITION_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The cursor is opaque to callers; only this module reads what is inside. */
export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.time, position.id])).toString("base64url");
}

function decodeCursor(cursor: string): Position | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [time, id] = value;
    return typeof time === "string" && POSITION_TIME.test(time) && typeof id === "string" && UUID.test(id)
      ? { time, id }
      : undefined;
  } catch {
    return undefined;
  }
}

const AuditKind = AuditEvent.shape.kind;
export type AuditKind = z.infer<typeof AuditKind>;

// No stored value holds a NUL (audit/columns.ts drops it on the way in), and PostgreSQL refuses one in a query.
const name = z
  .string()
  .trim()
  .min(1, "expected a non-empty value")
  .max(512, "expected at most 512 characters")
  .refine((value) => !value.includes("\u0000"), "expected no NUL character");

const ISO_EXAMPLE = "an ISO 8601 date or time with its zone, such as 2026-03-01 or 2026-03-01T12:00:00Z";

/** A time bound: a whole date means its midnight in UTC (the database session's zone must not decide). */
const instant = z.string().transform((value, ctx) => {
  if (z.iso.date().safeParse(value).success) return `${value}T00:00:00Z`;
  if (z.iso.datetime({ offset: true }).safeParse(value).success) return value;
  ctx.addIssue({ code: "custom", message: `expected ${ISO_EXAMPLE}; got ${JSON.stringify(value)}` });
  return z.NEVER;
});

/** One or more values of an enum, given as a list, repeated, or comma-separated. */
function oneOrMore<const T extends Readonly<Record<string, string>>>(values: T) {
  const allowed = Object.values(values).join(", ");
  const item = z.enum(values, { error: (issue) => `expected one of ${allowed}; got ${JSON.stringify(issue.input)}` });
  return z.preprocess(
    (input) => (typeof input === "string" ? [input] : input),
    z
      .array(z.string())
      .transform((list) => list.flatMap((entry) => entry.split(",")).map((entry) => entry.trim()))
      .pipe(z.array(item).min(1, `expected one or more of ${allowed}`)),
  );
}

const limit = z.preprocess(
  (input) => (typeof input === "string" && /^\s*\d+\s*$/.test(input) ? Number(input) : input),
  z
    .number({ error: (issue) => `expected a whole number from 1 to ${MAX_SEARCH_LIMIT}; got ${JSON.stringify(issue.input)}` })
    .int(`expected a whole number from 1 to ${MAX_SEARCH_LIMIT}`)
    .min(1, `expected a whole number from 1 to ${MAX_SEARCH_LIMIT}`)
    .max(MAX_SEARCH_LIMIT, `expected at most ${MAX_SEARCH_LIMIT}; page on with the cursor for more`),
);

const cursor = z.string().transform((value, ctx) => {
  const position = decodeCursor(value);
  if (position) return position;
  ctx.addIssue({ code: "custom", message: "expected a cursor exactly as a previous search returned it" });
  return z.NEVER;
});

const tool = name.refine((value) => !value.slice(0, -1).includes("*"), {
  message: "expected a tool name, or a prefix ending in * (such as github_*); a * may only come last",
});

export const AuditFilter = z
  .strictObject({
    /** The user's subject or e-mail, exactly. */
    user: name.optional(),
    server: name.optional(),
    /** A tool name exactly, or a prefix followed by `*`. */
    tool: tool.optional(),
    outcome: oneOrMore(AuditOutcome.enum).optional(),
    kind: oneOrMore(AuditKind.enum).optional(),
    /** Inclusive. */
    from: instant.optional(),
    /** Exclusive. */
    to: instant.optional(),
    limit: limit.default(DEFAULT_SEARCH_LIMIT),
    /** Continue after the last row of a previous search with the same filters. */
    cursor: cursor.optional(),
  })
  .refine((filter) => !filter.from || !filter.to || Date.parse(filter.from) < Date.parse(filter.to), {
    path: ["to"],
    message: "expected a time after from (to is exclusive)",
  });
export type AuditFilter = z.output<typeof AuditFilter>;

/** The filters' names, as a query string or the CLI spells them. */
export const FILTER_NAMES = ["user", "server", "tool", "outcome", "kind", "from", "to", "limit", "cursor"] as const;
const LISTS: ReadonlySet<string> = new Set(["outcome", "kind"]);

export type FilterInput = Record<string, string | readonly string[] | undefined>;

/** Validates filters as text (query parameters, CLI options); every problem names its filter and what was expected. */
export function parseAuditFilter(input: FilterInput): { filter: AuditFilter } | { problems: string[] } {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (typeof value === "string" || LISTS.has(key)) values[key] = value;
    else if (value.length === 1) values[key] = value[0];
    else problems.push(`${key}: expected it once; it was given ${value.length} times`);
  }
  const result = AuditFilter.safeParse(values);
  if (!result.success) problems.push(...result.error.issues.map(describeIssue));
  return problems.length > 0 ? { problems } : { filter: result.data as AuditFilter };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => `${key}: not a filter (expected one of ${FILTER_NAMES.join(", ")})`).join("; ");
  }
  const key = issue.path.filter((part) => typeof part === "string").join(".");
  return `${key || "filters"}: ${issue.message}`;
}

/**
 * Each event field and its column; `time` comes back as a Date and is written in ISO 8601 like the stored event,
 * `arguments` as JSON text and is parsed.
 */
const FIELDS = [
  ["id", "id"],
  ["time", "time"],
  ["kind", "kind"],
  ["userSub", "user_sub"],
  ["userEmail", "user_email"],
  ["clientId", "client_id"],
  ["server", "server"],
  ["method", "method"],
  ["tool", "tool"],
  ["outcome", "outcome"],
  ["errorCode", "error_code"],
  ["httpStatus", "http_status"],
  ["latencyMs", "latency_ms"],
  ["requestBytes", "request_bytes"],
  ["responseBytes", "response_bytes"],
  ["protocolVersion", "protocol_version"],
  ["count", "count"],
  ["arguments", "arguments"],
] as const satisfies readonly (readonly [keyof AuditEvent, string])[];

// The position's time in text to the microsecond, in UTC whatever the session's zone: a cursor must point exactly.
const POSITION_SQL = `to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const SELECT_LIST = [...FIELDS.map(([field, column]) => `${column} AS "${field}"`), `${POSITION_SQL} AS "positionTime"`].join(
  ", ",
);

type Row = Record<string, unknown> & { id: string; positionTime: string };

interface Bounds {
  /** Only rows after this one (exclusive). */
  after?: Position;
  /** Only rows up to this one (inclusive). */
  through?: Position;
}

/**
 * The WHERE clause for a filter. Only the clause's text is built here, from fixed fragments; every value the caller
 * gave travels as a parameter, so no value is ever read as SQL.
 */
function whereClause(filter: AuditFilter, bounds: Bounds): { sql: string; values: unknown[] } {
  const values: unknown[] = [];
  const conditions: string[] = [];
  const param = (value: unknown) => `$${values.push(value)}`;
  if (filter.user !== undefined) {
    const user = param(filter.user);
    conditions.push(`(user_sub = ${user} OR user_email = ${user})`);
  }
  if (filter.server !== undefined) conditions.push(`server = ${param(filter.server)}`);
  if (filter.tool?.endsWith("*")) conditions.push(`tool LIKE ${param(`${escapeLike(filter.tool.slice(0, -1))}%`)}`);
  else if (filter.tool !== undefined) conditions.push(`tool = ${param(filter.tool)}`);
  if (filter.outcome) conditions.push(`outcome = ANY(${param(filter.outcome)}::text[])`);
  if (filter.kind) conditions.push(`kind = ANY(${param(filter.kind)}::text[])`);
  if (filter.from) conditions.push(`time >= ${param(filter.from)}::timestamptz`);
  if (filter.to) conditions.push(`time < ${param(filter.to)}::timestamptz`);
  const after = bounds.after ?? filter.cursor;
  if (after) conditions.push(`(time, id) < (${param(after.time)}::timestamptz, ${param(after.id)}::uuid)`);
  if (bounds.through) {
    conditions.push(`(time, id) >= (${param(bounds.through.time)}::timestamptz, ${param(bounds.through.id)}::uuid)`);
  }
  return { sql: conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "", values };
}

/** A prefix matched literally: `_` and `%` in a tool name are characters, not LIKE wildcards (`\` is LIKE's escape). */
function escapeLike(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (character) => `\\${character}`);
}

async function selectRows(pool: pg.Pool, filter: AuditFilter, count: number, bounds: Bounds): Promise<Row[]> {
  const where = whereClause(filter, bounds);
  const sql = `SELECT ${SELECT_LIST} FROM audit_events ${where.sql} ORDER BY time DESC, id DESC LIMIT $${where.values.length + 1}`;
  return (await pool.query<Row>(sql, [...where.values, count])).rows;
}

function toEvent(row: Row): AuditEvent {
  const event: Record<string, unknown> = {};
  for (const [field] of FIELDS) {
    const value = row[field];
    if (value === null || value === undefined) continue;
    // Arguments are stored as canonical JSON text (docs/audit.md, "Redaction").
    event[field] = value instanceof Date ? value.toISOString() : field === "arguments" ? JSON.parse(value as string) : value;
  }
  return event as AuditEvent;
}

const positionOf = (row: Row): Position => ({ time: row.positionTime, id: row.id });

export interface AuditSearch {
  /** The matching events, newest first, a page at a time; at most the filter's limit in all (see `through`). */
  pages: AsyncGenerator<AuditEvent[], void, undefined>;
  /** Once the pages are read: the cursor to continue with, when the limit stopped the search before the last match. */
  nextCursor(): string | undefined;
}

export interface SearchOptions {
  pageSize?: number;
  /** Read every match down to this row instead of counting to the limit (see {@link answerBounds}). */
  through?: Position;
}

/** Runs a search page by page (keyset pagination: a row inserted meanwhile never shifts a page). */
export function searchAudit(pool: pg.Pool, filter: AuditFilter, options: SearchOptions = {}): AuditSearch {
  const pageSize = options.pageSize ?? SEARCH_PAGE_SIZE;
  let nextCursor: string | undefined;
  async function* pages(): AsyncGenerator<AuditEvent[], void, undefined> {
    let after = filter.cursor;
    let remaining = filter.limit;
    for (;;) {
      const wanted = options.through ? pageSize : Math.min(pageSize, remaining);
      // One row more than wanted says whether another page follows.
      const rows = await selectRows(pool, filter, wanted + 1, { after, through: options.through });
      const kept = rows.slice(0, wanted);
      if (kept.length > 0) yield kept.map(toEvent);
      const last = kept.at(-1);
      if (rows.length <= wanted || !last) return;
      after = positionOf(last);
      remaining -= kept.length;
      if (!options.through && remaining === 0) {
        nextCursor = encodeCursor(after);
        return;
      }
    }
  }
  return { pages: pages(), nextCursor: () => nextCursor };
}

/** One search's events at once (at most the filter's limit) and the cursor to continue with, if more match. */
export async function searchAuditEvents(
  pool: pg.Pool,
  filter: AuditFilter,
): Promise<{ events: AuditEvent[]; nextCursor?: string }> {
  const search = searchAudit(pool, filter);
  const events: AuditEvent[] = [];
  for await (const page of search.pages) events.push(...page);
  const nextCursor = search.nextCursor();
  return nextCursor ? { events, nextCursor } : { events };
}

/** What a streamed answer serves, fixed before its first byte is sent. */
export interface AnswerBounds {
  /** The answer's last row: it serves every match down to this one (absent when nothing matches: nothing to serve). */
  through?: Position;
  /** Whether more rows match after `through`, where the next answer starts (its cursor: `encodeCursor(through)`). */
  more: boolean;
}

/**
 * Where a streamed answer ends: the filter's limit-th row when more match, else the last match. Always a row, never
 * "count to the limit": a row stored between this query and the pages would then push the oldest match out of the
 * answer, with no cursor to say so. One statement, so `through` and `more` are of one snapshot.
 */
export async function answerBounds(pool: pg.Pool, filter: AuditFilter): Promise<AnswerBounds> {
  const where = whereClause(filter, {});
  const head = `$${where.values.length + 1}`;
  // The first limit + 1 matches, then their last two: the limit-th and the one after it, or the last match alone.
  const sql = `SELECT id, ${POSITION_SQL} AS "positionTime", count(*) OVER () AS "matched"
FROM (SELECT id, time FROM audit_events ${where.sql} ORDER BY time DESC, id DESC LIMIT ${head}) AS head
ORDER BY time ASC, id ASC LIMIT 2`;
  const { rows } = await pool.query<Row & { matched: string }>(sql, [...where.values, filter.limit + 1]);
  const more = rows.length > 0 && Number(rows[0]?.matched) > filter.limit;
  const last = more ? rows[1] : rows[0];
  return last ? { through: positionOf(last), more } : { more: false };
}
