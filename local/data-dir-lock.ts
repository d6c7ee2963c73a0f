import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The file in the data folder that says which process uses it. */
export const LOCK_FILE = "embedded-postgres.lock";

/**
 * Takes the data folder for this process: `<dir>/embedded-postgres.lock` holds its pid until the returned function is
 * called. PGlite does not lock its folder, and two processes writing one each see only their own rows, one side's lost
 * at the next start without a word (s27 failure hunt F3). A lock whose process is gone (a crash, `kill -9`) is taken
 * over. Refused with a message that names the folder, the process and what to do.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: "wx" });
      // Only while it is still this process's: a lock taken over meanwhile is another's (s27 review R3).
      return async () => {
        if ((await readFile(path, "utf8").catch(() => "")).trim() === String(process.pid)) await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
    if (Number.isInteger(holder) && holder > 0 && isRunning(holder)) {
      throw new Error(
        `the embedded PostgreSQL's data folder ${dir} is in use by process ${holder} (another npm start?): stop it, or ` +
          `give this one a folder of its own (LOCAL_DATA_DIR). If no such process is yours, delete ${path} and start again.`,
      );
    }
    await rm(path, { force: true });
  }
  throw new Error(`the embedded PostgreSQL's data folder ${dir} was taken by another process just now: start again`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
