import { randomUUID } from "node:crypto";
import { link, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** The file in the data folder that says which process uses it. */
export const LOCK_FILE = "embedded-postgres.lock";

/**
 * Takes the data folder for this process: `<dir>/embedded-postgres.lock` holds its pid until the returned function is
 * called. PGlite does not lock its folder, and two processes writing one each see only their own rows, one side's lost
 * at the next start without a word (s27 failure hunt F3). A lock whose process is gone (a crash, `kill -9`) is taken
 * over. Refused with a message that names the folder, the process and what to do.
 *
 * Starts racing for the folder cannot both win (s27 review R3): the lock appears with its pid already in it (a link to
 * a file written first, so a reader never sees it empty), and a dead process's lock is removed only by the one start
 * holding the takeover file, after reading it again.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  const mine = `${process.pid}\n`;
  const draft = `${path}.${randomUUID()}`;
  await writeFile(draft, mine);
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      if (await linked(draft, path)) {
        // Only while it is still this process's: a lock taken over meanwhile is another's.
        return async () => {
          if ((await readFile(path, "utf8").catch(() => "")) === mine) await rm(path, { force: true });
        };
      }
      const holder = await readFile(path, "utf8").catch(() => undefined);
      if (holder === undefined) continue;
      const pid = runningPid(holder);
      if (pid !== undefined) {
        throw new Error(
          `the embedded PostgreSQL's data folder ${dir} is in use by process ${pid} (another npm start?): stop it, or ` +
            `give this one a folder of its own (LOCAL_DATA_DIR). If no such process is yours, delete ${path} and start again.`,
        );
      }
      await removeStale(draft, path, holder);
    }
  } finally {
    await rm(draft, { force: true });
  }
  throw new Error(`the embedded PostgreSQL's data folder ${dir} was taken by another process just now: start again`);
}

/** Removes the lock at `path` if it still says `stale`, holding `<path>.takeover` meanwhile; waits a moment if another start holds that. */
async function removeStale(draft: string, path: string, stale: string): Promise<void> {
  const takeover = `${path}.takeover`;
  if (!(await linked(draft, takeover))) {
    const holder = await readFile(takeover, "utf8").catch(() => undefined);
    if (holder !== undefined && runningPid(holder) === undefined) {
      throw new Error(
        `${takeover} was left by a process that is gone while it took over the data folder: delete it and start again`,
      );
    }
    await sleep(20);
    return;
  }
  try {
    if ((await readFile(path, "utf8").catch(() => undefined)) === stale) await rm(path, { force: true });
  } finally {
    await rm(takeover, { force: true });
  }
}

/** Whether `path` was created as a link to `draft` (false when it exists already). */
async function linked(draft: string, path: string): Promise<boolean> {
  try {
    await link(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/** The pid a lock file names, if that process runs (EPERM: it runs, as another user). */
function runningPid(lock: string): number | undefined {
  const pid = Number.parseInt(lock, 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM" ? pid : undefined;
  }
}
