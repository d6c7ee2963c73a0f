import type pg from "pg";
import type { ChainHead } from "../chain/append.ts";
import { checkpointPayload } from "./payload.ts";
import type { CheckpointSigner } from "./signer.ts";

export interface CheckpointerOptions {
  pool: pg.Pool;
  signer: CheckpointSigner;
  /** Sign a chain's head once it is this many rows past its last checkpoint. */
  everyRows: number;
  /** And every this many seconds, each head with rows not yet signed. */
  everySeconds: number;
  log: (line: string) => void;
}

export interface Checkpointer {
  /** A write moved a chain's head: sign it if it is `everyRows` past the last checkpoint (in the background). */
  noteHead(head: ChainHead): void;
  /** Signs every chain head with rows not yet signed; resolves when they are stored. */
  signHeads(): Promise<void>;
  /** Signs the heads every `everySeconds` from now on. */
  start(): void;
  /** Stops the timer and waits for signatures in progress, so the pool can be ended after it. */
  stop(): Promise<void>;
}

const LAST_SIGNED = "SELECT chain, max(seq) AS seq FROM audit_checkpoints GROUP BY chain";
const UNSIGNED_HEADS = `SELECT c.chain, c.seq, c.hash FROM audit_chains c
  WHERE c.seq > coalesce((SELECT max(k.seq) FROM audit_checkpoints k WHERE k.chain = c.chain), 0)`;
const ADD_KEY = "INSERT INTO audit_checkpoint_keys (key_id, public_key) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING";
// Two instances may sign one head: the first checkpoint stays.
const ADD_CHECKPOINT = `INSERT INTO audit_checkpoints (chain, seq, hash, time, key_id, signature)
  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain, seq) DO NOTHING`;

/**
 * Signs the audit chains' heads (docs/audit.md, "Checkpoints"). A failed signature (KMS away) is logged and the
 * head is signed later: the rows stay chained meanwhile, only their checkpoint waits.
 */
export function createCheckpointer(options: CheckpointerOptions): Checkpointer {
  const { pool, signer, log } = options;
  const inFlight = new Set<Promise<void>>();
  let lastSigned: Promise<Map<number, number>> | undefined;
  let keyStored: Promise<string> | undefined;
  let timer: NodeJS.Timeout | undefined;

  // Read once; a failure (the database away) is not kept, so the next head reads again.
  const signedSoFar = () => {
    lastSigned ??= pool.query(LAST_SIGNED).then(({ rows }) => new Map(rows.map((row) => [Number(row.chain), Number(row.seq)])));
    lastSigned.catch(() => {
      lastSigned = undefined;
    });
    return lastSigned;
  };
  const storeKey = () => {
    keyStored ??= signer.describe().then(async ({ keyId, publicKey }) => {
      await pool.query(ADD_KEY, [keyId, publicKey]);
      return keyId;
    });
    keyStored.catch(() => {
      keyStored = undefined;
    });
    return keyStored;
  };
  const sign = async (head: ChainHead) => {
    const keyId = await storeKey();
    const checkpoint = { ...head, time: new Date() };
    const signature = await signer.sign(checkpointPayload(checkpoint));
    await pool.query(ADD_CHECKPOINT, [head.chain, head.seq, head.hash, checkpoint.time, keyId, signature]);
  };
  const track = (work: Promise<void>) => {
    const done = work.catch((error: unknown) => log(`audit checkpoint failed (signed again later): ${(error as Error).message}`));
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
    return done;
  };

  const checkpointer: Checkpointer = {
    noteHead(head) {
      track(
        signedSoFar().then(async (signed) => {
          const last = signed.get(head.chain) ?? 0;
          if (head.seq - last < options.everyRows) return;
          signed.set(head.chain, head.seq);
          await sign(head).catch((error: unknown) => {
            if (signed.get(head.chain) === head.seq) signed.set(head.chain, last);
            throw error;
          });
        }),
      );
    },
    async signHeads() {
      await track(
        (async () => {
          const { rows } = await pool.query(UNSIGNED_HEADS);
          const signed = await signedSoFar();
          for (const row of rows) {
            const head = { chain: Number(row.chain), seq: Number(row.seq), hash: row.hash as Buffer };
            await sign(head);
            signed.set(head.chain, Math.max(signed.get(head.chain) ?? 0, head.seq));
          }
        })(),
      );
    },
    start() {
      timer = setInterval(() => void checkpointer.signHeads(), options.everySeconds * 1000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
    },
  };
  return checkpointer;
}
