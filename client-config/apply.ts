import type { ClientRecord } from "./clients.ts";
import { ChangedMeanwhile, readConfig, replaceConfig } from "./config-file.ts";
import { applyKeyedEdit, MalformedConfig } from "./jsonc-edit.ts";
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
    ({ text: after, notes } = applyKeyedEdit(before.text ?? "", target.edit, request.mode));
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

  const diff = unifiedDiff(target.file, original, after);
  const done: Status = request.mode === "write" ? "written" : "removed";
  const detail = (first: string) => [first, editNotes].filter(Boolean).join("; ");
  if (options.dryRun) return at(done, detail("dry run: nothing written"), diff);
  try {
    const backup = await replaceConfig(before, after, options.now);
    return at(done, detail(backup ? `backup ${backup}` : "new file"), diff);
  } catch (error) {
    if (error instanceof ChangedMeanwhile) return at("failed", error.message);
    throw error;
  }
}
