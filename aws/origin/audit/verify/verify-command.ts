import { createPublicKey, type KeyObject } from "node:crypto";
import type pg from "pg";
import { describeProblem } from "./problems.ts";
import { verifyAudit } from "./verify-audit.ts";

/** Exit code of `verify` when it found tampering (0: none; 1 and 2 are failures and bad arguments, as for every command). */
export const TAMPERING_FOUND = 3;

/** Rows between two progress lines. */
const PROGRESS_EVERY = 100_000;

export interface VerifyCommandOptions {
  pageSize: number;
  /** Public keys (PEM or DER SubjectPublicKeyInfo) that checkpoints must be signed with, and their files' names. */
  publicKeys: { file: string; text: Buffer }[];
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** `npm run audit -- verify`: each problem on stdout as one line, then a summary; progress on stderr. */
export async function verifyCommand(pool: pg.Pool, options: VerifyCommandOptions): Promise<number> {
  const trustedKeys = options.publicKeys.length > 0 ? options.publicKeys.map(publicKeyOf) : undefined;
  if (!trustedKeys) {
    options.err.write(
      "audit verify: no --public-key given: checkpoint signatures are checked with the keys the database records, which someone able to rewrite the database could replace\n",
    );
  }
  let nextProgress = PROGRESS_EVERY;
  const summary = await verifyAudit(pool, {
    pageSize: options.pageSize,
    trustedKeys,
    report: (problem) => options.out.write(`${describeProblem(problem)}\n`),
    progress: (rows) => {
      if (rows < nextProgress) return;
      options.err.write(`audit verify: ${rows} rows checked\n`);
      nextProgress = rows + PROGRESS_EVERY;
    },
  });
  const counts = `${summary.rows} rows in ${summary.chains} chains, ${summary.checkpoints} checkpoints`;
  if (summary.problems === 0) {
    options.out.write(`verified ${counts}: no tampering found\n`);
    return 0;
  }
  options.out.write(`verified ${counts}: ${summary.problems} problems\n`);
  return TAMPERING_FOUND;
}

function publicKeyOf(key: { file: string; text: Buffer }): KeyObject {
  try {
    const pem = key.text.toString("utf8").includes("-----BEGIN");
    return pem ? createPublicKey(key.text) : createPublicKey({ key: key.text, format: "der", type: "spki" });
  } catch (error) {
    throw new Error(`--public-key ${key.file}: not a PEM or DER public key: ${(error as Error).message}`);
  }
}
