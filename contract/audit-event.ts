import { z } from "zod";
import { wellFormed } from "./well-formed.ts";

/** The most bytes of JSON an event's `arguments` may take; the edge replaces larger ones by a truncation marker. */
export const MAX_AUDIT_ARGUMENTS_BYTES = 8192;

/**
 * How many levels of objects and arrays an event's `arguments` may nest (the arguments object itself is the first);
 * the edge replaces what is deeper by a marker (contract/audit-redaction.ts). Redaction, validation and canonical JSON
 * recurse once per level, and a few KB of nested brackets would exhaust the stack and lose the event.
 */
export const MAX_AUDIT_ARGUMENTS_DEPTH = 64;

/**
 * The most UTF-8 bytes a text field of an event keeps. PostgreSQL refuses a row whose btree index entry is over 2704
 * bytes, and with it the whole batch (`user_sub`, `user_email`, `server` and `tool` are indexed). Every text field
 * this long, even of control characters (6 bytes each JSON-escaped), and 8 KB of arguments fit half a 128 KB queue
 * message.
 */
export const MAX_AUDIT_TEXT_BYTES = 1024;

/** The bytes a text takes in UTF-8, as queues and the database count them (a string's `length` counts UTF-16 units). */
export const utf8Length = (text: string) => new TextEncoder().encode(text).length;

/**
 * The text, or if it is over `maxBytes` of UTF-8, its start followed by `…[truncated from <n> characters]`, all within
 * `maxBytes`. The cut falls between characters, never inside a UTF-8 sequence or a surrogate pair; a lone surrogate in
 * the kept start becomes U+FFFD, as the database would store it.
 */
export function fitText(text: string, maxBytes = MAX_AUDIT_TEXT_BYTES): string {
  // A UTF-16 unit takes at most 3 bytes, and at least 1: most text is decided without encoding it.
  if (text.length * 3 <= maxBytes) return text;
  if (text.length <= maxBytes && utf8Length(text) <= maxBytes) return text;
  const marker = `…[truncated from ${text.length} characters]`;
  // encodeInto writes whole characters only: what it read is the longest start that fits.
  const { read } = new TextEncoder().encodeInto(text, new Uint8Array(maxBytes - utf8Length(marker)));
  return `${wellFormed(text.slice(0, read))}${marker}`;
}

/** Times PostgreSQL's timestamptz takes and an audit event can have: from 1970 (year 0000 passes ISO 8601, not it). */
const storableTime = (time: string) => Date.parse(time) >= 0;

/**
 * One audited happening at the edge: an MCP request or an authorization step.
 * The edge produces these, the origin stores them; `id` makes delivery idempotent,
 * so a queue that redelivers a batch never writes a row twice.
 */
export const AuditOutcome = z.enum([
  "ok", // the upstream answered with a result
  "error", // a JSON-RPC error, from the upstream or the proxy
  "tool_error", // a tools/call result with isError: true
  "denied", // refused by authentication or policy before reaching the upstream
  // The origin or upstream could not be reached: the origin unreachable or its answer broken off, and the origin's own
  // 502/503/504 refusals (an upstream not started, its circuit open, the pool full); docs/audit.md. An upstream's own
  // error is "error".
  "unavailable",
  "cancelled", // the client gave up first: cancelled it, or went away before the answer (whether the upstream acted is unknown)
  // A 2026-07-28 round that only asked (a result of resultType "input_required": an approval prompt, an upstream's
  // elicitation or sampling): nothing ran yet; the client sends the request again with the answer, a row of its own.
  "input_required",
]);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

export const AuditEvent = z.object({
  id: z.uuid(),
  time: z.iso
    .datetime()
    .refine(storableTime, { message: "expected a time from 1970 to 9999 (the edge stamps the time it records)" }),
  kind: z.enum([
    "mcp.request",
    "auth.sign_in",
    "auth.denied",
    "auth.refresh_reuse", // a rotated refresh token came back: its grant revoked (count 1), or gone already (no count)
    "auth.user_signed_out", // a user signed out everywhere at the edge (`count` grants revoked, absent when none) by an administrator (`clientId` `operator:<who>`) or because the Workspace account is not active (`clientId` `directory:google`)
    "auth.rate_limited", // requests refused for their rate, one event per client IP, endpoint and minute (see `count`)
    "mcp.rate_limited", // MCP requests refused for their rate, one event per user (or client IP) and minute (see `count`)
    "mcp.approval", // a user's answer to a require_approval prompt: ok approved; denied declined, stale or reused; error no prompt possible
    "upstream.revoked", // a user's upstream OAuth tokens deleted by an operator (`count` rows; `clientId` is `operator:<who revoked>`)
    "mcp.upstream_left_out", // the aggregated endpoint answered without a server that failed or was too slow (the origin records it)
    // Pinned definitions (docs/pinning.md), recorded by the origin; `method` names the kind, `tool` the definition:
    "definition.first_seen", // seen for the first time and trusted (trust-on-first-use)
    "definition.held", // seen for the first time and withheld until approved (require-approval)
    "definition.changed", // differs from the approved definition: withheld until approved
    "definition.approved", // an administrator approved it (`userEmail` is who)
    "definition.rejected", // an administrator rejected it
    "audit.searched", // an administrator searched or exported the audit trail (`arguments.query` is the search asked)
  ]),
  userSub: z.string().min(1).optional(),
  userEmail: z.string().optional(),
  clientId: z.string().optional(),
  server: z.string().optional(),
  method: z.string().optional(),
  tool: z.string().optional(),
  outcome: AuditOutcome,
  errorCode: z.number().int().optional(),
  httpStatus: z.number().int().optional(),
  latencyMs: z.number().nonnegative(),
  requestBytes: z.number().int().nonnegative().optional(),
  responseBytes: z.number().int().nonnegative().optional(),
  protocolVersion: z.string().optional(),
  /** How many requests this one event stands for, on aggregated events (`auth.rate_limited`). */
  count: z.number().int().positive().optional(),
  /**
   * The arguments of a `tools/call` or `prompts/get`, redacted at the edge before queueing (contract/audit-redaction.ts)
   * and cut to fit when larger than {@link MAX_AUDIT_ARGUMENTS_BYTES} serialized: values cut by size, every key kept,
   * a `[truncated]` marker only when the keys alone do not fit; what nests deeper than
   * {@link MAX_AUDIT_ARGUMENTS_DEPTH} is a marker too. The origin stores them as received (a `__proto__` key, which
   * this schema's output would drop, included), checking their size itself.
   */
  arguments: z
    .record(z.string(), z.json())
    .refine((value) => utf8Length(JSON.stringify(value)) <= MAX_AUDIT_ARGUMENTS_BYTES, {
      message: "expected at most 8192 bytes of JSON (the edge cuts larger arguments)",
    })
    .optional(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;

/** The most events one ingest request may carry. */
export const MAX_INGEST_EVENTS = 500;

/**
 * The body the edge posts to the origin's ingest endpoint. Each event is checked alone (AuditEvent): one the origin
 * cannot take (an edge newer than its origin, say) does not hold back the others.
 */
export const AuditIngestBody = z.object({ events: z.array(z.unknown()).min(1).max(MAX_INGEST_EVENTS) });

/**
 * The origin's answer (422) when it refused some events of a batch and stored the others: the refused ones by their
 * place in the batch, and why. Not a 2xx, so that an edge that cannot read it retries the whole batch (the stored
 * events are not stored twice) rather than taking it as delivered.
 */
export const AuditEventsRefused = z.object({
  error: z.literal("invalid_audit_events"),
  inserted: z.number(),
  refused: z.array(z.object({ index: z.number().int().min(0), problems: z.array(z.string()) })),
});
export type AuditEventsRefused = z.infer<typeof AuditEventsRefused>;

/**
 * A message on the audit queue: the edge sends the events of one isolate's batch window as one message (Queues count
 * and bill per message; each message costs a producer call); a single event is accepted too (the rate limiter's
 * counts, and messages queued by an older edge).
 */
export type AuditQueueMessage = AuditEvent | AuditEvent[];

/** Where the origin accepts audit batches (edge assertion required, like every origin route). */
export const AUDIT_INGEST_PATH = "/audit/events";
