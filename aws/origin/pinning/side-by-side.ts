import { diffLines } from "diff";
import { printable } from "../../../contract/printable.ts";

/** How a line of the two columns compares: the same on both sides, only left, only right, or differing on both. */
export type SideBySideMark = " " | "<" | ">" | "|";

/** One line of the approved definition (left) beside one line of the waiting one (right). */
export interface SideBySideRow {
  left: string;
  mark: SideBySideMark;
  right: string;
}

/**
 * Two definitions side by side, as an administrator reviews a change: the approved one on the left, the new one on
 * the right, line by line, pretty-printed JSON with keys sorted. The CLI prints these rows as text, /ops as a table.
 */
export function sideBySideRows(left: unknown, right: unknown): SideBySideRow[] {
  const parts = diffLines(pretty(left), pretty(right));
  const rows: SideBySideRow[] = [];
  for (let index = 0; index < parts.length; index++) {
    const part = parts[index];
    if (!part) continue;
    const lines = part.value.replace(/\n$/, "").split("\n");
    const next = parts[index + 1];
    if (part.removed && next?.added) {
      const added = next.value.replace(/\n$/, "").split("\n");
      for (let line = 0; line < Math.max(lines.length, added.length); line++)
        rows.push({ left: lines[line] ?? "", mark: "|", right: added[line] ?? "" });
      index++;
    } else if (part.removed) for (const line of lines) rows.push({ left: line, mark: "<", right: "" });
    else if (part.added) for (const line of lines) rows.push({ left: "", mark: ">", right: line });
    else for (const line of lines) rows.push({ left: line, mark: " ", right: line });
  }
  return rows;
}

/**
 * The rows as text in two columns of `width` characters, changed lines marked (`<` only left, `>` only right, `|` both
 * differ). A longer line is wrapped, never cut, its mark repeated on each piece: a change late in a one-line JSON
 * description must show, or an administrator approves what they could not see.
 */
export function sideBySide(left: unknown, right: unknown, width = 60): string {
  return sideBySideRows(left, right)
    .flatMap((row) => {
      const lefts = wrap(row.left, width);
      const rights = wrap(row.right, width);
      return Array.from(
        { length: Math.max(lefts.length, rights.length) },
        (_, piece) => `${padded(lefts[piece] ?? "", width)} ${row.mark} ${rights[piece] ?? ""}`,
      );
    })
    .join("\n");
}

/** The text in pieces of at most `width` characters (code points: a surrogate pair is never split). */
function wrap(text: string, width: number): string[] {
  const characters = Array.from(text);
  const pieces: string[] = [];
  for (let start = 0; start < characters.length; start += width) pieces.push(characters.slice(start, start + width).join(""));
  return pieces.length > 0 ? pieces : [""];
}

const padded = (piece: string, width: number) => piece + " ".repeat(width - Array.from(piece).length);

/** Sorted, pretty JSON; upstream text in it as a reviewer may be shown it (see printable), its own line breaks kept. */
function pretty(value: unknown): string {
  return `${JSON.stringify(sorted(value), null, 2).split("\n").map(printable).join("\n")}\n`;
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
