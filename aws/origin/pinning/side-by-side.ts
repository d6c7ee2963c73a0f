import { diffLines } from "diff";

/**
 * Two definitions side by side, as an administrator reviews a change: the approved one on the left, the new one on
 * the right, changed lines marked (`<` only left, `>` only right, `|` both differ), pretty-printed JSON with keys sorted.
 */
export function sideBySide(left: unknown, right: unknown, width = 60): string {
  const parts = diffLines(pretty(left), pretty(right));
  const rows: string[] = [];
  for (let index = 0; index < parts.length; index++) {
    const part = parts[index];
    if (!part) continue;
    const lines = part.value.replace(/\n$/, "").split("\n");
    const next = parts[index + 1];
    if (part.removed && next?.added) {
      const added = next.value.replace(/\n$/, "").split("\n");
      for (let line = 0; line < Math.max(lines.length, added.length); line++)
        rows.push(row(lines[line] ?? "", "|", added[line] ?? "", width));
      index++;
    } else if (part.removed) for (const line of lines) rows.push(row(line, "<", "", width));
    else if (part.added) for (const line of lines) rows.push(row("", ">", line, width));
    else for (const line of lines) rows.push(row(line, " ", line, width));
  }
  return rows.join("\n");
}

const row = (left: string, mark: string, right: string, width: number) =>
  `${clip(left, width).padEnd(width)} ${mark} ${clip(right, width)}`;
const clip = (text: string, width: number) => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

function pretty(value: unknown): string {
  return `${JSON.stringify(sorted(value), null, 2)}\n`;
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sorted((value as Record<string, unknown>)[key])]),
  );
}
