import type { ClientRecord } from "./clients.ts";
import { backupsOf, ChangedMeanwhile, deleteConfig, readConfig, replaceConfig } from "./config-file.ts";
import {
  applyKeyedEdit,
  holdsAnyKey,
  holdsParentWithoutKeys,
  isBareEmptyObject,
  type KeyedEdit,
  MalformedConfig,
} from "./jsonc-edit.ts";
import type { Request, Target } from "./targets.ts";
import { unifiedDiff } from "./unified-diff.ts";

export type Status = "written" | "unchanged" | "removed" | "skipped" | "failed";

export interface Outcome {
  readonly client: ClientRecord;
  readonly file: string;
  readonly status: Status;
  readonly detail: string;
  /** The change as a unified diff (dry runs print it). */
  readonly diff: string;
}

export async function applyTarget(
  client: ClientRecord,
  target: Target,
  request: Request,
  options: { readonly dryRun: boolean; readonly now: Date },
): Promise<Outcome> {
  const at = (status: Status, detail: string, diff = ""): Outcome => ({ client, file: target.file, status, detail, diff });
  const before = await readConfig(target.file);
  if (request.mode === "remove" && before.text === undefined) return at("unchanged", "no such file");

  let after: string;
  let notes: readonly string[];
  try {
    const keepEmptiedParent = request.mode === "remove" && (await parentWasThere(before.path, target.edit));
    ({ text: after, notes } = applyKeyedEdit(before.text ?? "", target.edit, request.mode, { keepEmptiedParent }));
  } catch (error) {
    if (!(error instanceof MalformedConfig)) throw error;
    return at("failed", `${error.message}. Left untouched: fix the file (or move it aside) and run again`);
  }
  const editNotes = notes.join("; ");
  const original = before.text ?? "";
  if (after === original) {
    const nothing = request.mode === "write" ? "already as wanted" : `no entry to remove`;
    return at("unchanged", editNotes || nothing);
  }

  // A removal that leaves nothing in a file this command created deletes the file: as it was before the
  // first write is no file at all, not `{}`.
  const deleting = request.mode === "remove" && isBareEmptyObject(after) && (await createdHere(before.path, target.edit));
  const diff = unifiedDiff(target.file, original, deleting ? "" : after);
  const done: Status = request.mode === "write" ? "written" : "removed";
  const deletion = deleting ? (options.dryRun ? WOULD_DELETE : DELETED) : "";
  const detail = (first: string) => [first, deletion, editNotes].filter(Boolean).join("; ");
  if (options.dryRun) return at(done, detail("dry run: nothing written"), diff);
  try {
    const backup = deleting ? await deleteConfig(before, options.now) : await replaceConfig(before, after, options.now);
    return at(done, detail(backup ? `backup ${backup}` : "new file"), diff);
  } catch (error) {
    if (error instanceof ChangedMeanwhile) return at("failed", error.message);
    throw error;
  }
}

const WOULD_DELETE = "the file would be deleted: this command created it and nothing else would be left in it";
const DELETED = "file deleted: this command created it and nothing else was left in it";

/**
 * Whether the entries' object (`mcpServers`) was in the file before this command first wrote into it: the oldest
 * backup (the file as the user had it) holds it without the entry. Then a removal leaves it, emptied, where it was.
 */
async function parentWasThere(path: string, edit: KeyedEdit): Promise<boolean> {
  const [oldest] = await backupsOf(path);
  const text = oldest === undefined ? undefined : await backupText(oldest);
  return text !== undefined && holdsParentWithoutKeys(text, edit);
}

/**
 * Whether the file was not there before this command first wrote into it. Every file the command
 * replaces is backed up first, so a file that was there before has a backup without the entry; a file
 * the command created has no backup, or only backups of its own writes, each holding the entry.
 */
async function createdHere(path: string, edit: KeyedEdit): Promise<boolean> {
  for (const backup of await backupsOf(path)) {
    const text = await backupText(backup);
    if (text === undefined || !holdsAnyKey(text, edit)) return false;
  }
  return true;
}

/** A backup's text; undefined when it cannot be read as the command reads files (one kept of a file not in UTF-8). */
const backupText = (path: string): Promise<string | undefined> =>
  readConfig(path).then(
    (backup) => backup.text,
    () => undefined,
  );
