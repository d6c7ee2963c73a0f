import { createHash } from "node:crypto";
import { COLUMNS, type ColumnValue } from "../columns.ts";
import { canonicalJson } from "./canonical-json.ts";

/** The previous hash of a chain's first row. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** A row's position in its chain. */
export interface ChainPosition {
  chain: number;
  seq: number;
}

/**
 * What a row's hash covers: its position and every stored column (a fixed list, absent ones as null), as canonical
 * JSON. The position is part of it, so that a row moved to another place no longer matches its hash.
 */
export function canonicalContent(values: readonly ColumnValue[], position: ChainPosition): string {
  const content: Record<string, ColumnValue> = { chain: position.chain, seq: position.seq };
  COLUMNS.forEach(([, column], index) => {
    content[column] = values[index] ?? null;
  });
  return canonicalJson(content);
}

/** hash = SHA-256(canonical content ‖ previous row's hash). */
export function linkHash(content: string, previous: Buffer): Buffer {
  return createHash("sha256").update(content, "utf8").update(previous).digest();
}
