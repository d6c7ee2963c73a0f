import { escapeHtml } from "../../auth/html.ts";

/** A figure as a tile: its label, its value, a line saying what it means, and `bad` to draw the eye to it. */
export type Tile = [label: string, value: string, detail: string, tone?: "bad"];

/** Tiles as a description list (`dl.tiles` in style.ts). */
export function tileList(tiles: Tile[]): string {
  const items = tiles.map(
    ([label, value, detail, tone]) =>
      `<div class="tile${tone ? ` ${tone}` : ""}"><dt>${escapeHtml(label)}</dt><dd><span class="value">${escapeHtml(value)}</span><span class="detail">${escapeHtml(detail)}</span></dd></div>`,
  );
  return `<dl class="tiles">${items.join("")}</dl>`;
}
