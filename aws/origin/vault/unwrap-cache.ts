import { createHash } from "node:crypto";
import { contextBytes, type KeyWrapper } from "./key-wrapper.ts";

export interface UnwrapCacheOptions {
  /** How long an unwrapped data key is kept. */
  ttlMs: number;
  /** The most keys kept; the oldest goes first. */
  maxEntries: number;
  /** The clock, for tests. */
  now?: () => number;
}

/**
 * Every use of an OAuth upstream opens the user's stored connection, and with KMS each opening is a Decrypt: a
 * round trip of milliseconds and a billed request per call. This keeps the data keys the instance unwrapped for
 * `ttlMs`, keyed by the wrapped key and its context together, so a row opens again without KMS while a wrapped key
 * presented under another row's context still goes to KMS (and fails there). Revoking a user's connection is not
 * delayed: the vault reads the row on every use, and a deleted row has nothing to open. Revoking the origin's access
 * to the KMS key (disabling it, or taking kms:Decrypt from the task role) reaches rows opened recently only after
 * `ttlMs`, as their keys are already here.
 */
export function withUnwrapCache(wrapper: KeyWrapper, options: UnwrapCacheOptions): KeyWrapper {
  const now = options.now ?? Date.now;
  const kept = new Map<string, { key: Buffer; until: number }>();
  const drop = (id: string) => {
    kept.get(id)?.key.fill(0);
    kept.delete(id);
  };
  return {
    describe: `${wrapper.describe}, data keys kept ${options.ttlMs / 1000} s`,
    newDataKey: (context) => wrapper.newDataKey(context),
    async unwrap(wrapped, context) {
      const id = createHash("sha256").update(wrapped).update("\0").update(contextBytes(context)).digest("base64");
      const hit = kept.get(id);
      if (hit && hit.until > now()) return Buffer.from(hit.key);
      if (hit) drop(id);
      const key = await wrapper.unwrap(wrapped, context);
      // Entries are in the order they were made, all with one lifetime: the expired ones are at the front.
      for (const [oldest, entry] of kept) {
        if (entry.until > now() && kept.size < options.maxEntries) break;
        drop(oldest);
      }
      // Two callers may have missed at once: the one kept is the last, the other zeroed.
      drop(id);
      // The caller zeroes what it is handed once used: it gets a copy.
      kept.set(id, { key: Buffer.from(key), until: now() + options.ttlMs });
      return key;
    },
  };
}
