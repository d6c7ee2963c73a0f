import { createPublicKey, type KeyObject } from "node:crypto";
import type pg from "pg";
import { UsageError } from "../../cli/usage-error.ts";
import { progressEvery } from "../progress.ts";
import { describeProblem } from "./problems.ts";
import { verifyAudit } from "./verify-audit.ts";

/** Exit code of `verify` when it found tampering (0: none; 1 and 2 are failures and bad arguments, as for every command). */
export const TAMPERING_FOUND = 3;

export interface VerifyCommandOptions {
  pageSize: number;
  /** The keys checkpoints must be signed with (read by {@link publicKeyOf}); none: the keys the database records. */
  trustedKeys: KeyObject[];
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** `npm run audit -- verify`: each problem on stdout as one line, then a summary; progress on stderr. */
export async function verifyCommand(pool: pg.Pool, options: VerifyCommandOptions): Promise<number> {
  const trustedKeys = options.trustedKeys.length > 0 ? options.trustedKeys : undefined;
  if (!trustedKeys) {
    options.err.write(
      "audit verify: no --public-key given: checkpoint signatures are checked with the keys the database records, which someone able to rewrite the database could replace\n",
    );
  }
  const progress = progressEvery((rows) => options.err.write(`audit verify: ${rows} rows checked\n`));
  const summary = await verifyAudit(pool, {
    pageSize: options.pageSize,
    trustedKeys,
    report: (problem) => options.out.write(`${describeProblem(problem)}\n`),
    progress,
  });
  const counts = `${summary.rows} rows in ${summary.chains} chains, ${summary.checkpoints} checkpoints`;
  if (summary.problems === 0) {
    options.out.write(`verified ${counts}: no tampering found\n`);
    return 0;
  }
  options.out.write(`verified ${counts}: ${summary.problems} problems\n`);
  return TAMPERING_FOUND;
}

/**
 * The public key (PEM, or DER SubjectPublicKeyInfo) in a `--public-key` file's contents. A file that holds none is a
 * mistake in the arguments, like a file that cannot be read: a {@link UsageError} (exit 2), not a failed verify.
 */
export function publicKeyOf(file: string, text: Buffer): KeyObject {
  try {
    const pem = text.toString("utf8").includes("-----BEGIN");
    return pem ? createPublicKey(text) : createPublicKey({ key: text, format: "der", type: "spki" });
  } catch (error) {
    throw new UsageError(`--public-key ${file}: not a PEM or DER public key: ${(error as Error).message}`);
  }
}
