import { readFileSync } from "node:fs";
import { commandLineOf, descendantsOf } from "../e2e/process-tree.ts";

/** Linux's clock tick (`getconf CLK_TCK`), the unit of /proc/<pid>/stat's times, on every platform Node runs on. */
const TICKS_PER_SECOND = 100;

/**
 * CPU time, in ms, that a process and all its live descendants have used so far (user + system, with the times of
 * children they have reaped), from /proc (Linux). Its difference over a timed window is what that window cost.
 * Descendants whose command line matches `except` are left out, with their own descendants.
 */
export function cpuMsOfTree(pid: number, except?: RegExp): number {
  const excluded = (each: number) => except?.test(commandLineOf(each)) ?? false;
  return [pid, ...descendantsOf(pid, excluded)].reduce((sum, each) => sum + cpuMsOf(each), 0);
}

function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After the command name in parentheses: fields 3…; utime, stime, cutime, cstime are fields 14–17.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index] ?? 0), 0);
    return (ticks * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0; // exited while we looked
  }
}
