import { createHash } from "node:crypto";
import { AGGREGATED_NAME_SEPARATOR } from "../../../contract/aggregated-names.ts";

/** Clients refuse longer tool names (the specification's SEP-986 limit many of them enforce). */
export const MAX_PUBLIC_NAME = 64;

const HASH_LENGTH = 8;

/**
 * The public name of an upstream's tool or prompt on the aggregated endpoint: `<server>__<name>`, or when that is
 * longer than 64 characters, its first part and a hash of the whole original name, exactly 64 characters long. A
 * name shorter than 64 therefore always reads back as itself; only a 64-character name needs the server's table.
 */
export function publicName(server: string, original: string, salt = 0): string {
  const whole = `${server}${AGGREGATED_NAME_SEPARATOR}${original}`;
  if (whole.length <= MAX_PUBLIC_NAME && salt === 0) return whole;
  const start = wholeCharacters(whole, MAX_PUBLIC_NAME - HASH_LENGTH - 1);
  // One more hex digit where the cut gave back half a character: a shortened name is 64 long, never shorter.
  const hash = createHash("sha256")
    .update(`${salt}\u0000${original}`)
    .digest("hex")
    .slice(0, MAX_PUBLIC_NAME - start.length - 1);
  return `${start}-${hash}`;
}

/** At most `length` UTF-16 units of `text`, never half a surrogate pair (not Unicode; strict JSON decoders refuse it). */
function wholeCharacters(text: string, length: number): string {
  const cut = text.slice(0, length);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/**
 * One server's names, both ways, built from its list in the upstream's order: deterministic for the same list, and
 * never two originals under one public name (a collision is resolved by hashing again with the next salt).
 */
export class NameTable {
  readonly #toOriginal = new Map<string, string>();
  readonly #toPublic = new Map<string, string>();

  constructor(server: string, originals: readonly string[]) {
    // Names that fit keep their plain form first, so a shortened one can never take it from them.
    const fitting = originals.filter((name) => publicName(server, name).length < MAX_PUBLIC_NAME);
    const rest = originals.filter((name) => !fitting.includes(name));
    for (const original of [...fitting, ...rest]) {
      if (this.#toPublic.has(original)) continue;
      let salt = 0;
      let candidate = publicName(server, original);
      while (this.#toOriginal.has(candidate)) candidate = publicName(server, original, ++salt);
      this.#toOriginal.set(candidate, original);
      this.#toPublic.set(original, candidate);
    }
  }

  original(publicName: string): string | undefined {
    return this.#toOriginal.get(publicName);
  }

  public(original: string): string {
    const name = this.#toPublic.get(original);
    if (name === undefined) throw new Error(`"${original}" is not in this server's list`);
    return name;
  }
}

/** The upstream name behind a public name that needs no table (shorter than 64: never shortened). */
export function plainOriginal(name: string, server: string): string | undefined {
  return name.length < MAX_PUBLIC_NAME ? name.slice(server.length + AGGREGATED_NAME_SEPARATOR.length) : undefined;
}
