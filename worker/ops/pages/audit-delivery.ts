import type { OpsStats } from "../../../contract/ops-stats.ts";
import type { AuditQueuesReading } from "../data/queue-depth.ts";
import { formatCount, formatMs } from "./format.ts";
import { type Tile, tileList } from "./tiles.ts";

/** What each state without a reading shows in place of a count. */
const NO_READING: Record<Exclude<AuditQueuesReading["state"], "read">, string> = {
  "not-configured": "not configured",
  local: "not available locally",
  unreadable: "could not be read",
};

/**
 * The audit trail's way from the edge to the origin: how late events arrive (from the figures' source, when it
 * records that), how many wait in the queue, and how many were given up on (from Cloudflare's queue analytics).
 */
export function auditDelivery(lag: OpsStats["deliveryLag"] | undefined, queues: AuditQueuesReading): string {
  const tiles: Tile[] = [
    lag
      ? [
          "Audit delivery lag",
          formatMs(lag.p95Ms),
          `p50 ${formatMs(lag.p50Ms)}, p95 ${formatMs(lag.p95Ms)}, max ${formatMs(lag.maxMs)}`,
        ]
      : ["Audit delivery lag", "–", lag === null ? "not recorded by this source" : "not read (see above)"],
    ...queueTiles(queues),
  ];
  return `<section aria-labelledby="audit-delivery"><h2 id="audit-delivery">Audit delivery</h2>${tileList(tiles)}</section>`;
}

function queueTiles(queues: AuditQueuesReading): Tile[] {
  if (queues.state !== "read") {
    const detail = `${NO_READING[queues.state]}: ${queues.reason}`;
    return [
      ["Audit queue backlog", "–", detail],
      ["Audit dead letters", "–", detail],
    ];
  }
  const when = `${queues.windowMinutes}-minute average, read ${queues.readAt.slice(11, 19)} UTC`;
  return [
    ["Audit queue backlog", formatCount(queues.backlog), `events waiting for the origin; ${when}`],
    [
      "Audit dead letters",
      formatCount(queues.deadLetters),
      queues.deadLetters > 0 ? `events given up on: replay them (docs/operations.md); ${when}` : `none; ${when}`,
      queues.deadLetters > 0 ? "bad" : undefined,
    ],
  ];
}
