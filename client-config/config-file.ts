import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { basename, dirname, join, resolve as resolvePath } from "node:path";

export interface ConfigText {
  /** The file itself: a symbolic link (a dotfiles checkout) is followed, so the link survives the write. */
  readonly path: string;
  /** undefined: the file does not exist yet. Without its byte order mark, if it had one. */
  readonly text: string | undefined;
  /** Whether the file began with a UTF-8 byte order mark (Windows editors write one): it is written back. */
  readonly bom?: boolean;
}

const BOM = "\uFEFF";
/** Fails on a byte sequence that is not UTF-8, instead of replacing it with U+FFFD (which the write would keep). */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export async function readConfig(path: string): Promise<ConfigText> {
  const real = await followLinks(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(real);
  } catch (error) {
    if (isMissing(error)) return { path: real, text: undefined };
    if (codeOf(error) === "EISDIR") throw new Error(`${real} is a directory, not a file: move it aside and run again`);
    throw error;
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new Error(`${real} is not UTF-8 text (another encoding, or damaged): left untouched; save it as UTF-8 and run again`);
  }
  return text.startsWith(BOM) ? { path: real, text: text.slice(BOM.length), bom: true } : { path: real, text };
}

/**
 * The file a path leads to through any symbolic links, also when the last one points at a file not there yet
 * (realpath fails then): writing there creates the file behind the link instead of replacing the link itself.
 */
async function followLinks(path: string, hops = 0): Promise<string> {
  const real = await realpath(path).catch(() => undefined);
  if (real !== undefined) return real;
  const link = await lstat(path).catch(() => undefined);
  if (!link?.isSymbolicLink() || hops >= MAX_LINK_HOPS) return path;
  // A relative target is relative to the folder the link is really in (its own path may pass through links too).
  const folder = await realpath(dirname(path)).catch(() => dirname(path));
  return followLinks(resolvePath(folder, await readlink(path)), hops + 1);
}

/** As many links as Linux follows in one path before giving up (ELOOP). */
const MAX_LINK_HOPS = 40;

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
  await writeFile(temp, before.bom ? BOM + text : text, { mode, flag: "wx" });
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
  const now = await readConfig(before.path);
  if (now.text !== before.text || Boolean(now.bom) !== Boolean(before.bom))
    throw new ChangedMeanwhile(`${before.path} changed while this command ran; nothing written, run it again`);
}

const BACKUP_SUFFIX = /^\.\d{8}T\d{6}Z(-\d+)?\.bak$/;

/** The backups `backUp` kept of this file, oldest first (by time, then by the number a second one that second has). */
export async function backupsOf(path: string): Promise<string[]> {
  const name = basename(path);
  const files = await readdir(dirname(path)).catch(() => []);
  const order = (file: string) => {
    const [, stamp = "", attempt = "0"] = /^\.(\d{8}T\d{6}Z)(?:-(\d+))?\.bak$/.exec(file.slice(name.length)) ?? [];
    return { stamp, attempt: Number(attempt) };
  };
  return files
    .filter((file) => file.startsWith(name) && BACKUP_SUFFIX.test(file.slice(name.length)))
    .sort((a, b) => {
      const [x, y] = [order(a), order(b)];
      return x.stamp === y.stamp ? x.attempt - y.attempt : x.stamp < y.stamp ? -1 : 1;
    })
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
      if (codeOf(error) !== "EEXIST") throw error;
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
  return codeOf(error) === "ENOENT";
}

function codeOf(error: unknown): unknown {
  return error instanceof Error && "code" in error ? error.code : undefined;
}
