import { createPublicKey, type KeyObject, verify } from "node:crypto";
import type pg from "pg";
import { checkpointPayload } from "../checkpoint/payload.ts";
import type { VerifyProblem } from "./problems.ts";

/** A stored checkpoint, read back. */
export interface StoredCheckpoint {
  chain: number;
  seq: number;
  hash: Buffer;
  time: Date;
  keyId: string;
  signature: Buffer;
}

const CHECKPOINTS = "SELECT chain, seq, hash, time, key_id, signature FROM audit_checkpoints WHERE chain = $1 ORDER BY seq";
const KEYS = "SELECT key_id, public_key FROM audit_checkpoint_keys";

/** The checkpoint keys the database records, by key id. */
export async function recordedKeys(db: pg.ClientBase): Promise<Map<string, Buffer>> {
  const { rows } = await db.query(KEYS);
  return new Map(rows.map((row) => [row.key_id as string, row.public_key as Buffer]));
}

/** A chain's checkpoints, in seq order (a few per thousand rows: they fit in memory). */
export async function chainCheckpoints(db: pg.ClientBase, chain: number): Promise<StoredCheckpoint[]> {
  const { rows } = await db.query(CHECKPOINTS, [chain]);
  return rows.map((row) => ({
    chain: Number(row.chain),
    seq: Number(row.seq),
    hash: row.hash,
    time: row.time,
    keyId: row.key_id,
    signature: row.signature,
  }));
}

/**
 * Problems with a checkpoint's signature: its key unknown, not among `trusted` (when given), or the signature not
 * matching its chain, seq, hash and time.
 */
export function checkSignature(
  checkpoint: StoredCheckpoint,
  keys: Map<string, Buffer>,
  trusted: readonly KeyObject[] | undefined,
): VerifyProblem[] {
  const where = { chain: checkpoint.chain, seq: checkpoint.seq };
  const der = keys.get(checkpoint.keyId);
  if (!der)
    return [{ kind: "checkpoint_signature", ...where, message: `signed by key ${checkpoint.keyId}, which is not recorded` }];
  const publicKey = createPublicKey({ key: der, format: "der", type: "spki" });
  const problems: VerifyProblem[] = [];
  if (trusted && !trusted.some((key) => key.equals(publicKey))) {
    problems.push({
      kind: "untrusted_key",
      ...where,
      message: `signed by key ${checkpoint.keyId}, which is not one of the keys given`,
    });
  }
  if (!signatureMatches(checkpoint, publicKey)) {
    problems.push({
      kind: "checkpoint_signature",
      ...where,
      message: `the signature does not match the checkpoint's chain, seq, hash and time (key ${checkpoint.keyId}): the checkpoint was altered`,
    });
  }
  return problems;
}

function signatureMatches(checkpoint: StoredCheckpoint, publicKey: KeyObject): boolean {
  try {
    return verify("sha256", checkpointPayload(checkpoint), { key: publicKey, dsaEncoding: "der" }, checkpoint.signature);
  } catch {
    return false; // not even a DER signature
  }
}
