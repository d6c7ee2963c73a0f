/** Rows between two progress lines of a long-running audit command (verify, purge). */
export const PROGRESS_EVERY = 100_000;

/**
 * A progress reporter for a running count of rows: calls `write` with the count each time it has passed another
 * `every` rows since the last line, so that a long command shows it works without a line per page or batch.
 */
export function progressEvery(write: (rows: number) => void, every: number = PROGRESS_EVERY): (rows: number) => void {
  let next = every;
  return (rows) => {
    if (rows < next) return;
    write(rows);
    next = rows + every;
  };
}
