import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import { type DefinitionKind, FINGERPRINT_VERSION } from "./fingerprint.ts";

export type PinStatus = "approved" | "pending" | "superseded" | "rejected";

export interface PinnedDefinition {
  server: string;
  kind: DefinitionKind;
  name: string;
  fingerprint: string;
  /** What the fingerprint covers (fingerprint.ts): 1 before the whole definition was pinned, 2 since. */
  fingerprintVersion: number;
  definition: Record<string, unknown>;
  status: PinStatus;
  firstSeen: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  updatedAt: Date;
}

const COLUMNS = `server, kind, name, fingerprint, fingerprint_version AS "fingerprintVersion", definition, status, first_seen AS "firstSeen", decided_at AS "decidedAt",
  decided_by AS "decidedBy", updated_at AS "updatedAt"`;

/** The pinned definitions in PostgreSQL: what was seen, what is approved, what waits. */
export function createPinStore(pool: pg.Pool) {
  return {
    /** Every row updated after `since` (all rows without it), oldest change first. */
    async changedSince(since?: Date): Promise<PinnedDefinition[]> {
      const { rows } = since
        ? await pool.query(`SELECT ${COLUMNS} FROM pinned_definitions WHERE updated_at > $1 ORDER BY updated_at`, [since])
        : await pool.query(`SELECT ${COLUMNS} FROM pinned_definitions ORDER BY updated_at`);
      return rows as PinnedDefinition[];
    },

    /**
     * Records a sighting; true if it is new, or waits anew. Approved at once on first sight of a name under
     * trust-on-first-use, else pending. A definition approved once and superseded since, seen again (an upstream rolled
     * back), waits anew: an administrator approved the change away from it, and only one can approve the change back.
     * Another instance recording the same sighting at the same moment is harmless (one row wins).
     */
    async record(pin: Sighting, status: "approved" | "pending"): Promise<boolean> {
      const result = await pool.query(
        `INSERT INTO pinned_definitions (server, kind, name, fingerprint, definition, status, decided_at, decided_by,
           fingerprint_version)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 = 'approved' THEN now() END, CASE WHEN $6 = 'approved' THEN 'first sight' END,
           $7)
         ON CONFLICT (server, kind, name, fingerprint) DO UPDATE
           SET status = 'pending', decided_at = NULL, decided_by = NULL, updated_at = now()
           WHERE pinned_definitions.status = 'superseded' AND $6 = 'pending'`,
        [pin.server, pin.kind, pin.name, pin.fingerprint, JSON.stringify(pin.definition), status, FINGERPRINT_VERSION],
      );
      return (result.rowCount ?? 0) > 0;
    },

    /**
     * Carries an approval of version 1 (`version1`, the approved fingerprint) over to the definition's whole form: that
     * row superseded, this one approved as it was (when, by whom), in one transaction. Only while `version1` is the
     * approved row and this fingerprint was never recorded: false otherwise (decided meanwhile, or by another instance).
     */
    carryOver(pin: Sighting, version1: string): Promise<boolean> {
      return inTransaction(pool, async (client) => {
        const before = await client.query<{ decided_at: Date | null; decided_by: string | null }>(
          `UPDATE pinned_definitions SET status = 'superseded', updated_at = now()
           WHERE server = $1 AND kind = $2 AND name = $3 AND fingerprint = $4 AND status = 'approved' AND fingerprint_version = 1
             AND NOT EXISTS (SELECT 1 FROM pinned_definitions WHERE server = $1 AND kind = $2 AND name = $3 AND fingerprint = $5)
           RETURNING decided_at, decided_by`,
          [pin.server, pin.kind, pin.name, version1, pin.fingerprint],
        );
        const decided = before.rows[0];
        if (!decided) return false;
        await client.query(
          `INSERT INTO pinned_definitions (server, kind, name, fingerprint, definition, status, decided_at, decided_by,
             fingerprint_version)
           VALUES ($1, $2, $3, $4, $5, 'approved', $6, $7, $8)
           ON CONFLICT DO NOTHING`,
          [
            pin.server,
            pin.kind,
            pin.name,
            pin.fingerprint,
            JSON.stringify(pin.definition),
            decided.decided_at,
            decided.decided_by,
            FINGERPRINT_VERSION,
          ],
        );
        return true;
      });
    },

    /**
     * Approves a waiting definition: the one approved before it is superseded, atomically. Runs on `within` when given
     * (the caller's transaction, which also writes the decision's audit record), else in a transaction of its own.
     */
    approve(key: PinKey, by: string, within?: pg.PoolClient): Promise<boolean> {
      return within ? approveOn(within, key, by) : inTransaction(pool, (client) => approveOn(client, key, by));
    },

    /** Rejects a pending definition: it stays hidden, and is no longer listed as waiting. On `within` when given. */
    async reject(key: PinKey, by: string, within?: pg.PoolClient): Promise<boolean> {
      const result = await (within ?? pool).query(
        `UPDATE pinned_definitions SET status = 'rejected', decided_at = now(), decided_by = $5, updated_at = now()
         WHERE server = $1 AND kind = $2 AND name = $3 AND fingerprint = $4 AND status = 'pending'`,
        [key.server, key.kind, key.name, key.fingerprint, by],
      );
      return (result.rowCount ?? 0) > 0;
    },
  };
}
export type PinStore = ReturnType<typeof createPinStore>;

/** A definition as seen, to record. */
type Sighting = { server: string; kind: DefinitionKind; name: string; fingerprint: string; definition: object };

/** Which definition a decision is about. */
type PinKey = { server: string; kind: DefinitionKind; name: string; fingerprint: string };

/** Definitions an approval may take: what waits, and what was rejected or superseded earlier. */
const APPROVABLE = "status IN ('pending', 'rejected', 'superseded')";

// The approved definition is superseded only when the one to approve can be: nothing to approve changes nothing, so
// the caller's transaction can go on (and commit) without a rollback. The unique index on approved rows refuses a
// second approval racing this one.
async function approveOn(client: pg.PoolClient, key: PinKey, by: string): Promise<boolean> {
  const where = "server = $1 AND kind = $2 AND name = $3";
  await client.query(
    `UPDATE pinned_definitions SET status = 'superseded', updated_at = now() WHERE ${where} AND status = 'approved'
     AND EXISTS (SELECT 1 FROM pinned_definitions WHERE ${where} AND fingerprint = $4 AND ${APPROVABLE})`,
    [key.server, key.kind, key.name, key.fingerprint],
  );
  const approved = await client.query(
    `UPDATE pinned_definitions SET status = 'approved', decided_at = now(), decided_by = $5, updated_at = now()
     WHERE ${where} AND fingerprint = $4 AND ${APPROVABLE}`,
    [key.server, key.kind, key.name, key.fingerprint, by],
  );
  return (approved.rowCount ?? 0) > 0;
}
