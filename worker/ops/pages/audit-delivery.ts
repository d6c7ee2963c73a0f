import type { OpsStats } from "../../../contract/ops-stats.ts";
import type { SpoolContents } from "../../audit/spool-contents.ts";
import { escapeHtml } from "../../auth/html.ts";
import { NOT_QUEUED_WINDOW_HOURS } from "../data/not-queued.ts";
import type { AuditQueuesReading } from "../data/queue-depth.ts";
import { formatCount, formatMs } from "./format.ts";
import { type Tile, tileList } from "./tiles.ts";

/** Each state without a reading: the tiles' words, the sentence below them with its reason, and whether it alarms. */
const NO_READING: Record<Exclude<AuditQueuesReading["state"], "read">, { tile: string; sentence: string; alert: boolean }> = {
  "not-configured": { tile: "not configured", sentence: "is not configured", alert: false },
  local: { tile: "not available locally", sentence: "is not available locally", alert: false },
  unreadable: { tile: "could not be read", sentence: "could not be read", alert: true },
};

/**
 * The audit trail's way from the edge to the origin: how late events arrive (from the figures' source, when it
 * records that), how many queue messages wait, and how many were given up on (from Cloudflare's queue analytics, which
 * counts messages: an edge message holds up to 100 events).
 */
export function auditDelivery(lag: OpsStats["deliveryLag"] | undefined, queues: AuditQueuesReading): string {
  const tiles: Tile[] = [
    lag
      ? [
          "Audit delivery lag",
          formatMs(lag.p95Ms),
          `p50 ${formatMs(lag.p50Ms)}, p95 ${formatMs(lag.p95Ms)}, max ${formatMs(lag.maxMs)}${newest(lag.newestAgeMs)}`,
        ]
      : ["Audit delivery lag", "–", lag === null ? "not recorded by this source" : "not read (see above)"],
    ...queueTiles(queues),
    ...spoolTile(queues.spooled),
  ];
  return `<section aria-labelledby="audit-delivery"><h2 id="audit-delivery">Audit delivery</h2>${tileList(tiles)}${notQueued(queues.notQueued)}${spooledNote(queues.spooled)}${whyNoReading(queues)}</section>`;
}

/**
 * How old the newest event from the edge in the trail is: the lag is measured over what arrived, so a stalled delivery
 * shows here first (s24 hunt observability F10); so does a quiet edge, which the Calls tile tells apart.
 */
const newest = (ageMs: number | null | undefined) =>
  ageMs === undefined ? "" : ageMs === null ? "; none from the edge in the window" : `; the newest is ${formatMs(ageMs)} old`;

/** The audit spool's tile: events the queue refused and the edge keeps, not yet in the trail (absent: not read). */
function spoolTile(spooled: SpoolContents | undefined): Tile[] {
  if (!spooled) return [["Audit spool", "–", "could not be read (the edge's log says why)"]];
  if (spooled.events === 0) return [["Audit spool", "0", "no audit event waits to be sent again"]];
  return [["Audit spool", formatCount(spooled.events), `audit events waiting${sinceOldest(spooled)}`, "bad"]];
}

/** Events in the spool are late, not lost: the sentence says so, and what to look at. */
function spooledNote(spooled: SpoolContents | undefined): string {
  if (!spooled?.events) return "";
  const text = `${formatCount(spooled.events)} audit events wait in the audit spool${sinceOldest(spooled)}: the audit queue refused them, and the edge sends them again, less often the longer it refuses, until it takes them. They are not in the trail yet (docs/operations.md, Lost audit events).`;
  return `<p class="problem" role="alert">${escapeHtml(text)}</p>`;
}

const sinceOldest = ({ oldestAt }: SpoolContents) =>
  oldestAt === undefined ? "" : `, the oldest since ${new Date(oldestAt).toISOString().slice(0, 16).replace("T", " ")} UTC`;

/** Events the queue refused to the edge are dropped, not retried: any at all is an alert, not a figure to watch. */
function notQueued(events: number | undefined): string {
  if (!events) return "";
  const text = `${formatCount(events)} audit events not queued in the last ${NOT_QUEUED_WINDOW_HOURS} hours: the audit queue refused them and the edge dropped them, so the trail does not have them (docs/operations.md, Lost audit events).`;
  return `<p class="problem" role="alert">${escapeHtml(text)}</p>`;
}

function whyNoReading(queues: AuditQueuesReading): string {
  if (queues.state === "read") return "";
  const { sentence, alert } = NO_READING[queues.state];
  const text = escapeHtml(`The audit queues' depth ${sentence}: ${queues.reason}.`);
  return alert ? `<p class="problem" role="alert">${text}</p>` : `<p class="note">${text}</p>`;
}

function queueTiles(queues: AuditQueuesReading): Tile[] {
  if (queues.state !== "read") {
    const { tile } = NO_READING[queues.state];
    return [
      ["Audit queue backlog", "–", tile],
      ["Audit dead letters", "–", tile],
    ];
  }
  const when = `${queues.windowMinutes}-minute average, read ${queues.readAt.slice(11, 19)} UTC`;
  // Cloudflare counts messages, and an edge message holds one isolate's batch: "3" can be 300 events.
  return [
    [
      "Audit queue backlog",
      formatCount(queues.backlog),
      `queue messages (each up to 100 events) waiting for the origin; ${when}`,
    ],
    [
      "Audit dead letters",
      formatCount(queues.deadLetters),
      queues.deadLetters > 0
        ? `queue messages (each up to 100 events) given up on: replay them (docs/operations.md); ${when}`
        : `none; ${when}`,
      queues.deadLetters > 0 ? "bad" : undefined,
    ],
  ];
}
