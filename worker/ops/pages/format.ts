/** How the dashboard writes its numbers: the same way in tiles, tables and chart labels. */

const whole = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });

export const formatCount = (value: number): string => whole.format(value);

/** A share as a percentage with one decimal, or a dash when there is nothing to divide. */
export const formatShare = (part: number, all: number): string => (all > 0 ? `${((100 * part) / all).toFixed(1)}%` : "–");

/** Milliseconds below 10 s, seconds above; a dash when unknown. */
export function formatMs(value: number | null): string {
  if (value === null) return "–";
  return value < 10_000 ? `${whole.format(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

/** A UTC time as people read it on the page: `2026-03-01 12:05`. */
export const formatTime = (iso: string): string => iso.slice(0, 16).replace("T", " ");
