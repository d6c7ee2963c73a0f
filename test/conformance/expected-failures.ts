import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/** Which fixture serving mode a baseline belongs to: the modern (dual-era) upstream or the legacy-only one. */
export type FixtureMode = "dual" | "legacy";

/** `expected-failures.<requirements>.<mode>.yaml` beside this file, in the suite's `--expected-failures` format. */
export function expectedFailuresFile(requirements: string, mode: FixtureMode): string {
  return fileURLToPath(new URL(`./expected-failures.${requirements}.${mode}.yaml`, import.meta.url));
}

/**
 * The `server:` entries of a baseline. Reads the subset of YAML these files use (top-level keys, `- entry` items,
 * `[]`, comments) and refuses anything else, so a file it cannot read fully is an error rather than a shorter list.
 */
export async function readExpectedServerFailures(path: string): Promise<string[]> {
  const entries: Record<string, string[]> = {};
  let section: string | undefined;
  for (const [index, rawLine] of (await readFile(path, "utf8")).split("\n").entries()) {
    const line = rawLine.replace(/\s+#.*$|^#.*$/, "").trimEnd();
    if (line.trim() === "") continue;
    const key = /^([a-z]+):\s*(\[\])?$/.exec(line);
    const item = /^\s+-\s+(\S+)$/.exec(line);
    if (key?.[1]) {
      section = key[1];
      entries[section] = [];
    } else if (item?.[1] && section) {
      entries[section]?.push(item[1]);
    } else {
      throw new Error(`${path}:${index + 1}: cannot read "${rawLine}"`);
    }
  }
  return entries.server ?? [];
}
