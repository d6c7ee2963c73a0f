import type { AuditFacts } from "../audit/record.ts";

/**
 * The layout of the edge's Workers Analytics Engine data points (docs/analytics.md). Analytics Engine columns are
 * positional (`blob1`…`blob20`, `double1`…`double20`), so the order of these tables is the dataset's schema: append,
 * never reorder or remove, or every stored row and every query reading it changes meaning.
 */

type TextFact = { [K in keyof AuditFacts]-?: NonNullable<AuditFacts[K]> extends string ? K : never }[keyof AuditFacts];
type NumberFact = { [K in keyof AuditFacts]-?: NonNullable<AuditFacts[K]> extends number ? K : never }[keyof AuditFacts];

/** Text columns: facts of the audit event, never the user's sub or e-mail (excluded by type), and the hashed user id. */
export type BlobField = Exclude<TextFact, "userSub" | "userEmail"> | "userHash";

/** `blob1` is `BLOBS[0]`, and so on. */
export const BLOBS = [
  "kind",
  "server",
  "method",
  "tool",
  "outcome",
  "clientId",
  "protocolVersion",
  "userHash",
] as const satisfies readonly BlobField[];

/** `double1` is `DOUBLES[0]`, and so on; `absent` is written when the event has no such fact. */
export const DOUBLES = [
  { fact: "latencyMs", absent: 0 },
  { fact: "requestBytes", absent: 0 },
  { fact: "responseBytes", absent: 0 },
  { fact: "httpStatus", absent: 0 },
  // JSON-RPC defines no error code 0, so 0 reads as "no error code".
  { fact: "errorCode", absent: 0 },
  // An event stands for `count` requests (aggregated rate-limit events) or for one: SUM(double6) counts requests.
  { fact: "count", absent: 1 },
] as const satisfies readonly { fact: NumberFact; absent: number }[];

/**
 * Each blob is cut to this many UTF-16 units. A unit is at most 3 bytes of UTF-8, so 8 blobs stay under 4.8 KB: within
 * Analytics Engine's 16 KB per data point, and even its former 5 KB. Client-chosen text (a tool name) can be any length.
 */
export const MAX_BLOB_CHARS = 200;

/** The index is cut to this many UTF-16 units: at most 96 bytes of UTF-8, Analytics Engine's limit. */
export const MAX_INDEX_CHARS = 32;

/**
 * The one index, Analytics Engine's sampling key: the server for requests to one, otherwise the event's kind. The
 * dashboard reads per server, and a busy server is then sampled on its own while a quiet one keeps every row.
 */
export const indexOf = (facts: AuditFacts): string => facts.server ?? facts.kind;
