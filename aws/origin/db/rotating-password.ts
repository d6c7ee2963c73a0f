/**
 * The stages of a Secrets Manager secret that may hold the database's password, newest first: the one a rotation is
 * installing (AWSPENDING, between the rotation setting it in the database and promoting it), the promoted one
 * (AWSCURRENT) and the one before (AWSPREVIOUS, which the database still holds when a task started during a rotation
 * set the old password again: AWS's own rotation function falls back to it too).
 */
export type SecretStage = "AWSCURRENT" | "AWSPENDING" | "AWSPREVIOUS";

/** The order in which the stages are read after the password in use was refused. */
const STAGES_AFTER_REFUSAL: readonly SecretStage[] = ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"];

/** A refused password reads the stages again at most this often (a database refusing them all is not asked on). */
export const MIN_REREAD_INTERVAL_MS = 5_000;

/** Reads one stage of the secret: its password, or undefined when the secret has no such stage now. */
export type ReadPasswordStage = (stage: SecretStage) => Promise<string | undefined>;

/**
 * The database password of a login whose secret rotates. Connections read {@link current}; a connection the database
 * refused for its password reports it with the {@link generation} it began under, and is worth one new attempt if
 * another password is now in use.
 */
export interface RotatingPassword {
  /** The password for the next connection: the secret's AWSCURRENT, read at the first connection and kept. */
  current(): Promise<string>;
  /** Counts the changes of the password in use: a connection notes it before it opens. */
  generation(): number;
  /**
   * A connection begun under `generationSeen` was refused its password. If the password in use has changed since, yes
   * (try again). Else the stages are read again, newest first, and the first password that differs from the refused
   * one is used from now on: whether there was one.
   */
  refused(generationSeen: number): Promise<boolean>;
}

export function createRotatingPassword(
  read: ReadPasswordStage,
  options: { now?: () => number; minRereadIntervalMs?: number } = {},
): RotatingPassword {
  const now = options.now ?? Date.now;
  const minInterval = options.minRereadIntervalMs ?? MIN_REREAD_INTERVAL_MS;
  let inUse: Promise<string> | undefined;
  let generation = 0;
  let rereading: Promise<boolean> | undefined;
  let lastReread = Number.NEGATIVE_INFINITY;

  const current = (): Promise<string> => {
    // A failed read is not kept: the next connection reads again.
    inUse ??= read("AWSCURRENT")
      .then((password) => password ?? Promise.reject(new Error("the secret has no AWSCURRENT version")))
      .catch((error: unknown) => {
        inUse = undefined;
        throw error;
      });
    return inUse;
  };

  const reread = async (): Promise<boolean> => {
    lastReread = now();
    const refusedPassword = await current();
    for (const stage of STAGES_AFTER_REFUSAL) {
      const candidate = await read(stage);
      if (candidate === undefined || candidate === refusedPassword) continue;
      inUse = Promise.resolve(candidate);
      generation++;
      return true;
    }
    return false;
  };

  return {
    current,
    generation: () => generation,
    refused(generationSeen) {
      if (generationSeen !== generation) return Promise.resolve(true);
      if (rereading) return rereading;
      if (now() - lastReread < minInterval) return Promise.resolve(false);
      rereading = reread().finally(() => {
        rereading = undefined;
      });
      return rereading;
    },
  };
}
