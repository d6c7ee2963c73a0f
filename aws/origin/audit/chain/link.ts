import { hash } from "node:crypto";
import { COLUMNS, type ColumnValue } from "../columns.ts";

/** The previous hash of a chain's first row. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** A row's position in its chain. */
export interface ChainPosition {
  chain: number;
  seq: number;
}

// The content's keys in code-point order, each with where its value comes from: -1 and -2 for the position,
// otherwise the column's index. Fixed once, so each row is one pass of JSON.stringify over plain values.
const FIELDS: readonly (readonly [prefix: string, source: number])[] = [
  ["chain", -1] as const,
  ["seq", -2] as const,
  ...COLUMNS.map(([, column], index) => [column, index] as const),
]
  .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  .map(([key, source], index) => [`${index === 0 ? "{" : ","}${JSON.stringify(key)}:`, source] as const);

/**
 * What a row's hash covers: its position and every stored column (a fixed list, absent ones as null), as canonical
 * JSON (keys sorted, no spaces). The position is part of it, so that a row moved to another place no longer matches
 * its hash.
 */
export function canonicalContent(values: readonly ColumnValue[], position: ChainPosition): string {
  let content = "";
  for (const [prefix, source] of FIELDS) {
    const value = source === -1 ? position.chain : source === -2 ? position.seq : (values[source] ?? null);
    content += prefix + JSON.stringify(value);
  }
  return `${content}}`;
}

/** hash = SHA-256(canonical content ‖ previous row's hash). */
export function linkHash(content: string, previous: Buffer): Buffer {
  return hash("sha256", Buffer.concat([Buffer.from(content, "utf8"), previous]), "buffer");
}
