import { readFile } from "node:fs/promises";

/** Resident and proportional set size of one process, in MiB, from /proc/<pid>/smaps_rollup (Linux). Pss splits shared pages among the processes that map them. */
export async function memoryOf(pid: number | "self"): Promise<{ rss: number; pss: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? Number.NaN);
  return { rss: kib("Rss") / 1024, pss: kib("Pss") / 1024 };
}
