import { randomBytes } from "node:crypto";
import { KMSClient } from "@aws-sdk/client-kms";
import type { OriginConfig } from "../../../contract/config/schema.ts";
import { type KeyWrapper, kmsKeyWrapper, localKeyWrapper } from "./key-wrapper.ts";
import { withUnwrapCache } from "./unwrap-cache.ts";

/** Data keys kept at most: one per user and OAuth server in use, 32 bytes each. */
const UNWRAPPED_KEYS_KEPT = 10_000;

/** The vault's key wrapper the configuration names (`upstreamVault`), saying in the log which one it is. */
export function vaultKeysFromConfig(config: OriginConfig["upstreamVault"], log: (line: string) => void): KeyWrapper {
  if (config.kmsKeyId) {
    const client = new KMSClient({ region: config.kmsRegion, endpoint: config.kmsEndpoint });
    return kmsKeyWrapper(client, config.kmsKeyId);
  }
  if (config.localKey) return localKeyWrapper(Buffer.from(config.localKey, "base64"));
  log(
    "upstream token vault: sealed with a key made for this run, so users consent to OAuth upstreams again after a restart and on every other instance (set upstreamVault.localKey, or upstreamVault.kmsKeyId in production)",
  );
  return localKeyWrapper(randomBytes(32), "a key made for this run");
}

/**
 * The wrapper for users' stored connections, which are opened on every use of an OAuth upstream: with KMS, a data key
 * once decrypted is kept for `keyCacheSeconds`. Pending authorizations, each opened once, take `keys` as they are.
 */
export function connectionKeysFromConfig(keys: KeyWrapper, config: OriginConfig["upstreamVault"]): KeyWrapper {
  const ttlMs = config.keyCacheSeconds * 1000;
  return config.kmsKeyId && ttlMs > 0 ? withUnwrapCache(keys, { ttlMs, maxEntries: UNWRAPPED_KEYS_KEPT }) : keys;
}
