import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, copyFile, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface ConfigText {
  /** The file itself: a symbolic link (a dotfiles checkout) is followed, so the link survives the write. */
  readonly path: string;
  /** undefined: the file does not exist yet. */
  readonly text: string | undefined;
}

export async function readConfig(path: string): Promise<ConfigText> {
  const real = await realpath(path).catch(() => path);
  try {
    return { path: real, text: await readFile(real, "utf8") };
  } catch (error) {
    if (isMissing(error)) return { path: real, text: undefined };
    throw error;
  }
}

export class ChangedMeanwhile extends Error {}

/**
 * Replace the file with `text` in one rename, after keeping a timestamped copy of what was there.
 * Nothing is written if the file changed since `before` was read (a client saving its own state, as
 * Claude Code does with ~/.claude.json all the time): the caller reports it and the user runs again.
 * Returns the backup's path, or undefined when there was no file to back up.
 */
export async function replaceConfig(before: ConfigText, text: string, now: Date): Promise<string | undefined> {
  const { path } = before;
  await mkdir(dirname(path), { recursive: true });
  const mode = before.text === undefined ? 0o600 : (await stat(path)).mode & 0o777;
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  await writeFile(temp, text, { mode, flag: "wx" });
  try {
    await chmod(temp, mode); // the umask must not narrow or widen who may read the client's file
    await checkUnchanged(before);
    const backup = before.text === undefined ? undefined : await backUp(path, now);
    await rename(temp, path);
    return backup;
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Delete a file this command created once nothing else is left in it, with the same care as a
 * replacement: not if it changed meanwhile, and a backup first. Returns the backup's path.
 */
export async function deleteConfig(before: ConfigText, now: Date): Promise<string> {
  await checkUnchanged(before);
  const backup = await backUp(before.path, now);
  await rm(before.path);
  return backup;
}

async function checkUnchanged(before: ConfigText): Promise<void> {
  if ((await readConfig(before.path)).text !== before.text)
    throw new ChangedMeanwhile(`${before.path} changed while this command ran; nothing written, run it again`);
}

const BACKUP_SUFFIX = /^\.\d{8}T\d{6}Z(-\d+)?\.bak$/;

/** The backups `backUp` kept of this file, in no particular order. */
export async function backupsOf(path: string): Promise<string[]> {
  const name = basename(path);
  const files = await readdir(dirname(path)).catch(() => []);
  return files
    .filter((file) => file.startsWith(name) && BACKUP_SUFFIX.test(file.slice(name.length)))
    .map((file) => join(dirname(path), file));
}

/** `<file>.<UTC time>.bak` next to the file; never overwrites an earlier backup. */
async function backUp(path: string, now: Date): Promise<string> {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  for (let attempt = 0; ; attempt++) {
    const backup = `${path}.${stamp}${attempt === 0 ? "" : `-${attempt}`}.bak`;
    try {
      await copyFile(path, backup, constants.COPYFILE_EXCL);
      return backup;
    } catch (error) {
      if (!(error instanceof Error && "code" in error && error.code === "EEXIST")) throw error;
    }
  }
}

export async function directoryExists(path: string): Promise<boolean> {
  return stat(path).then(
    (found) => found.isDirectory(),
    () => false,
  );
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}
