import { createTwoFilesPatch } from "diff";

/** What a write would change, as `diff -u` prints it; empty when nothing would. */
export function unifiedDiff(path: string, before: string, after: string): string {
  if (before === after) return "";
  return createTwoFilesPatch(path, path, before, after, "now", "after this command", { context: 3 });
}
