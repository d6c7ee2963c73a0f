import type { WaitingDefinitions } from "../../../contract/ops-trust.ts";
import { escapeHtml } from "../../auth/html.ts";

type Row = WaitingDefinitions["waiting"][number]["rows"][number];

/** Each mark of the shared diff (aws/origin/pinning/side-by-side.ts) in words, so no one needs the colour to see it. */
const MARKS: Record<Row["mark"], { words: string; className: string }> = {
  " ": { words: "", className: "" },
  "<": { words: "removed", className: "removed" },
  ">": { words: "added", className: "added" },
  "|": { words: "changed", className: "changed" },
};

/** The approved definition and the waiting one in two columns, changed lines marked by class and in words. */
export function sideBySideTable(caption: string, rows: readonly Row[], headings: [string, string]): string {
  const body = rows.map((row) => {
    const mark = MARKS[row.mark];
    const cls = mark.className ? ` class="${mark.className}"` : "";
    return `<tr${cls}><td class="mark">${mark.words}</td><td><code>${escapeHtml(row.left)}</code></td><td><code>${escapeHtml(row.right)}</code></td></tr>`;
  });
  return `<table class="diff"><caption>${escapeHtml(caption)}</caption>
<thead><tr><th scope="col" class="mark">Line</th><th scope="col">${escapeHtml(headings[0])}</th><th scope="col">${escapeHtml(headings[1])}</th></tr></thead>
<tbody>${body.join("")}</tbody></table>`;
}
