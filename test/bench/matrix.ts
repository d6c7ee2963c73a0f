import { type BenchClient, median, runCell, type Stats, statsOf } from "./load.ts";

export interface Row {
  key: string;
  label: string;
  clients: BenchClient[];
  /** CPU used so far by the processes that serve the row, in ms: its change per call is reported. */
  cpuMs?: () => number;
}

export type Metric = "p50" | "p99" | "rps" | "cpu";

export interface MatrixOptions {
  concurrency: number[];
  rounds: number;
  seconds: number;
  warmupSeconds: number;
}

/** What a run measured: a row's median of a metric, and the rounds' own ratios of two rows (each round's pair). */
export interface MatrixResults {
  median(row: string, n: number, metric: Metric): number;
  /** `top`/`bottom` in each round (measured minutes apart at most), sorted: a slow round of the machine cancels out. */
  roundRatios(top: string, bottom: string, n: number, metric: Metric): number[];
}

/**
 * Every row at every concurrency, round after round, interleaved and rotated each round so that a slow moment of
 * the shared machine hits every row alike; prints each round, then the medians.
 */
export async function runMatrix(rows: Row[], options: MatrixOptions): Promise<MatrixResults> {
  {
    const results = new Map<string, Stats[]>();
    const cellKey = (row: string, n: number) => `${row}@${n}`;
    console.log(
      `${options.rounds} rounds × concurrency ${options.concurrency.join("/")} × rows ${rows.map((row) => row.key).join("")}: ${options.warmupSeconds} s warm-up + ${options.seconds} s timed per cell`,
    );
    for (let round = 0; round < options.rounds; round++) {
      for (const n of options.concurrency) {
        // Interleaved, and rotated each round, so that a slow moment of the shared machine hits every row alike.
        const order = rows.map((_, index) => rows[(index + round) % rows.length] as Row);
        const line: string[] = [];
        for (const row of order) {
          const cell = await runCell(row.clients.slice(0, n), options.warmupSeconds, options.seconds, row.cpuMs);
          const stats = statsOf(cell);
          if (cell.firstError) console.log(`  ${row.key}@${n}: ${cell.errors} errors; first: ${cell.firstError}`);
          results.set(cellKey(row.key, n), [...(results.get(cellKey(row.key, n)) ?? []), stats]);
          line.push(`${row.key} ${stats.p50.toFixed(1)}/${stats.p99.toFixed(1)} ms ${stats.rps.toFixed(0)}/s`);
        }
        console.log(`  round ${round + 1}, ${String(n).padStart(2)} clients: ${line.join("  ")}`);
      }
    }

    const med = (row: string, n: number, metric: Metric) =>
      median((results.get(cellKey(row, n)) ?? []).map((stats) => stats[metric]));
    const spread = (row: string, n: number, metric: "p50" | "rps") => {
      const values = (results.get(cellKey(row, n)) ?? []).map((stats) => stats[metric]);
      return `${Math.min(...values).toFixed(metric === "rps" ? 0 : 1)}–${Math.max(...values).toFixed(metric === "rps" ? 0 : 1)}`;
    };
    console.log(`\nmedians of ${options.rounds} rounds (range over rounds in brackets)`);
    console.log(
      `${"row".padEnd(30)} ${"clients".padStart(7)} ${"p50 ms".padStart(18)} ${"p99 ms".padStart(8)} ${"req/s".padStart(16)} ${"CPU ms/call".padStart(11)} errors`,
    );
    for (const row of rows) {
      for (const n of options.concurrency) {
        const all = results.get(cellKey(row.key, n)) ?? [];
        console.log(
          `${row.label.padEnd(30)} ${String(n).padStart(7)} ${med(row.key, n, "p50").toFixed(2).padStart(7)} [${spread(row.key, n, "p50").padStart(9)}] ${med(row.key, n, "p99").toFixed(2).padStart(8)} ${med(row.key, n, "rps").toFixed(0).padStart(5)} [${spread(row.key, n, "rps").padStart(9)}] ${med(row.key, n, "cpu").toFixed(2).padStart(11)} ${all.reduce((sum, stats) => sum + stats.errors, 0)}`,
        );
      }
    }
    const roundRatios = (top: string, bottom: string, n: number, metric: Metric) => {
      const bottoms = results.get(cellKey(bottom, n)) ?? [];
      return (results.get(cellKey(top, n)) ?? [])
        .map((stats, round) => stats[metric] / (bottoms[round]?.[metric] ?? Number.NaN))
        .sort((a, b) => a - b);
    };
    return { median: med, roundRatios };
  }
}
