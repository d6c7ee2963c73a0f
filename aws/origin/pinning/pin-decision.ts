import { randomUUID } from "node:crypto";
import type { AuditEvent } from "../../../contract/audit-event.ts";
import type { AuditStore } from "../audit/store.ts";
import { type PinnedDefinition, type PinStore, version1Of } from "./pin-store.ts";

/** An administrator's answer to a waiting definition. */
export type PinDecision = "approve" | "reject";

/** A definition that waits for a decision, with the one approved before it under the same name (if any). */
export interface WaitingChange {
  change: PinnedDefinition;
  approved: PinnedDefinition | undefined;
}

type Name = Pick<PinnedDefinition, "server" | "kind" | "name">;
const sameName = (row: Name, other: Name) => row.server === other.server && row.kind === other.kind && row.name === other.name;

/** What waits for a decision among the pin store's rows, oldest change first. */
export function waitingChanges(rows: readonly PinnedDefinition[]): WaitingChange[] {
  return rows.filter((row) => row.status === "pending").map((change) => ({ change, approved: approvedOf(rows, change) }));
}

/**
 * The definition approved under a name, as clients of this release see it: the approved row, or the whole form
 * approved through it (its fingerprint of version 1, which older releases check: pin-store.ts) when one was since.
 */
export function approvedOf(rows: readonly PinnedDefinition[], name: Name): PinnedDefinition | undefined {
  const approved = rows.find((row) => sameName(row, name) && row.status === "approved");
  if (!approved?.decidedAt) return approved;
  const decided = approved.decidedAt.getTime();
  const through = rows.filter(
    (row) =>
      sameName(row, approved) &&
      row.status === "superseded" &&
      (row.decidedAt?.getTime() ?? -1) >= decided &&
      version1Of(row) === approved.fingerprint,
  );
  return through.sort((a, b) => (b.decidedAt?.getTime() ?? 0) - (a.decidedAt?.getTime() ?? 0))[0] ?? approved;
}

/**
 * Records the decision and audits it (`definition.approved` or `definition.rejected`, the deciding administrator as
 * the event's user) in one transaction: a decision is never in force unrecorded. False when the change was decided
 * meanwhile. The CLI and /ops decide through this alone.
 */
export function decidePin(
  store: PinStore,
  audit: Pick<AuditStore, "insertWith">,
  decision: PinDecision,
  change: Pick<PinnedDefinition, "server" | "kind" | "name" | "fingerprint">,
  by: string,
): Promise<boolean> {
  return audit.insertWith(async (db) => {
    const done = decision === "approve" ? await store.approve(change, by, db) : await store.reject(change, by, db);
    const event: AuditEvent = {
      id: randomUUID(),
      time: new Date().toISOString(),
      kind: decision === "approve" ? "definition.approved" : "definition.rejected",
      userEmail: by,
      server: change.server,
      method: change.kind,
      tool: change.name,
      outcome: "ok",
      latencyMs: 0,
    };
    return { result: done, events: done ? [event] : [] };
  });
}
