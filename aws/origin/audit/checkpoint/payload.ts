import { canonicalJson } from "../chain/canonical-json.ts";

/** A signed chain head: the chain's last row (seq and hash) at `time`. */
export interface Checkpoint {
  chain: number;
  seq: number;
  hash: Buffer;
  time: Date;
}

/** The bytes a checkpoint's signature covers: canonical JSON of chain, seq, hash (hex) and time (ISO 8601, UTC). */
export function checkpointPayload(checkpoint: Checkpoint): Buffer {
  const { chain, seq, hash, time } = checkpoint;
  return Buffer.from(canonicalJson({ chain, seq, hash: hash.toString("hex"), time: time.toISOString() }), "utf8");
}
