import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import { type DefinitionKind, FINGERPRINT_VERSION, pinnedForm, WITHIN_VERSION_1 } from "./fingerprint.ts";

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

/**
 * A row as the origin's polls read it: its definition only when {@link version1Of} may find a fingerprint of version 1
 * in it (an approved or superseded row whose definition has a field version 1 did not cover), else null.
 */
export type PolledDefinition = Omit<PinnedDefinition, "definition" | "firstSeen"> & {
  definition: Record<string, unknown> | null;
};

/**
 * Every instance reads the whole table once a minute, and the table holds every resource an upstream ever listed: the
 * definitions (most of its bytes) are left in the database unless version1Of needs them (s22 hunt G1). CASE tries its
 * branches in order, so jsonb_object_keys only sees objects. $1 names, per kind, the fields whose presence alone
 * cannot make a version 1 differ (version 1's and the volatile ones).
 */
const POLLED_COLUMNS = `server, kind, name, fingerprint, fingerprint_version AS "fingerprintVersion", status,
  decided_at AS "decidedAt", decided_by AS "decidedBy", updated_at AS "updatedAt",
  CASE WHEN status NOT IN ('approved', 'superseded') THEN NULL
    WHEN jsonb_typeof(definition) <> 'object' THEN NULL
    WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(definition) AS field WHERE NOT coalesce(($1::jsonb -> kind) ? field, false))
      THEN definition
  END AS definition`;
const VERSION_1_OR_VOLATILE = JSON.stringify(WITHIN_VERSION_1);

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

    /** As changedSince, read for the origin's polls: without the definitions version1Of cannot use. */
    async polledSince(since?: Date): Promise<PolledDefinition[]> {
      const { rows } = since
        ? await pool.query(`SELECT ${POLLED_COLUMNS} FROM pinned_definitions WHERE updated_at > $2 ORDER BY updated_at`, [
            VERSION_1_OR_VOLATILE,
            since,
          ])
        : await pool.query(`SELECT ${POLLED_COLUMNS} FROM pinned_definitions ORDER BY updated_at`, [VERSION_1_OR_VOLATILE]);
      return rows as PolledDefinition[];
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
     * Approves on first sight a definition with fields version 1 did not cover: under its fingerprint of version 1
     * (`version1`), which tasks of older releases check, and its whole form beside it (throughRow). False when either is
     * recorded already (by another instance, or an older task), or another definition of the name is approved.
     */
    recordFirstSight(pin: Sighting, version1: string): Promise<boolean> {
      return inTransaction(pool, async (client) => {
        const inserted = await client.query(
          `INSERT INTO pinned_definitions (server, kind, name, fingerprint, definition, status, decided_at, decided_by,
             fingerprint_version)
           SELECT $1, $2, $3, $4, $5, 'approved', now(), 'first sight', 1
           WHERE NOT EXISTS (SELECT 1 FROM pinned_definitions WHERE server = $1 AND kind = $2 AND name = $3 AND fingerprint = $6)
           ON CONFLICT DO NOTHING`,
          [pin.server, pin.kind, pin.name, version1, JSON.stringify(pin.definition), pin.fingerprint],
        );
        if ((inserted.rowCount ?? 0) === 0) return false;
        await throughRow(client, pin, { decidedAt: null, by: "first sight" });
        return true;
      });
    },

    /**
     * Carries an approval of version 1 (`version1`, the approved fingerprint: an older release's, or one approved since by
     * its fingerprint of version 1) over to the definition's whole form: that row stays approved, for older tasks, and
     * the whole form is recorded as approved through it (throughRow), keeping its time and administrator. Only while
     * `version1` is approved and nothing was approved through it since: false otherwise (another instance did it).
     */
    carryOver(pin: Sighting, version1: string): Promise<boolean> {
      return inTransaction(pool, async (client) => {
        const approved = await client.query<{ decided_at: Date; decided_by: string | null }>(
          `SELECT decided_at, decided_by FROM pinned_definitions approved
           WHERE server = $1 AND kind = $2 AND name = $3 AND fingerprint = $4 AND status = 'approved' AND fingerprint_version = 1
             AND NOT EXISTS (SELECT 1 FROM pinned_definitions through WHERE through.server = $1 AND through.kind = $2
               AND through.name = $3 AND through.status = 'superseded' AND through.fingerprint <> $4
               AND through.decided_at >= approved.decided_at)
           FOR UPDATE`,
          [pin.server, pin.kind, pin.name, version1],
        );
        const decided = approved.rows[0];
        if (!decided) return false;
        return throughRow(client, pin, { decidedAt: decided.decided_at, by: decided.decided_by });
      });
    },

    /**
     * Moves an approval recorded under a whole form's fingerprint (approved by the release before this one, or by an older
     * task's CLI or /ops) to its fingerprint of version 1, so tasks of older releases (during a rolling deploy, after a
     * rollback) find their fingerprint approved; the whole form is then approved through it. `decided` when decided
     * meanwhile; `refused`, and nothing changed, when the version 1 row was rejected at or after the approval (an older
     * task filed it as a change, and an administrator rejected that): a background move does not undo a later decision.
     */
    async keepForOlderReaders(row: Sighting, version1: string): Promise<"moved" | "decided" | "refused"> {
      try {
        return await inTransaction(pool, async (client) => {
          // The time as text: a Date keeps milliseconds, and a rejection in the approval's millisecond is no later.
          const moved = await client.query<{ decided_at: string; decided_by: string | null }>(
            `UPDATE pinned_definitions SET status = 'superseded', updated_at = now()
             WHERE server = $1 AND kind = $2 AND name = $3 AND fingerprint = $4 AND status = 'approved'
             RETURNING decided_at::text, decided_by`,
            [row.server, row.kind, row.name, row.fingerprint],
          );
          const decided = moved.rows[0];
          if (!decided) return "decided";
          const at = { at: decided.decided_at, by: decided.decided_by, overRejection: "earlier" } as const;
          // The whole form was superseded above: rolled back, it stays approved.
          if (!(await approveVersion1(client, row, version1, at))) throw new RejectedSince();
          return "moved";
        });
      } catch (error) {
        if (error instanceof RejectedSince) return "refused";
        throw error;
      }
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

/**
 * A definition approved through its fingerprint of version 1 (`definition-pins.ts`): a form with fields version 1 did
 * not cover is never the approved row itself, since tasks of older releases compare the approved row's fingerprint
 * with their version 1 one. Its approval is its version 1 row `approved`, and its own row `superseded` and decided at
 * or after that row (decided_at is one of the few columns the origin's role may update: db/roles.ts). A later
 * approval of the version 1 row (by an older task's CLI) leaves it behind, and is carried over again.
 */
async function throughRow(
  client: pg.PoolClient,
  pin: Sighting,
  decided: { decidedAt: Date | null; by: string | null },
): Promise<boolean> {
  const values = [pin.server, pin.kind, pin.name, pin.fingerprint, JSON.stringify(pin.definition)];
  const result = await client.query(
    `INSERT INTO pinned_definitions (server, kind, name, fingerprint, definition, status, decided_at, decided_by,
       fingerprint_version)
     VALUES ($1, $2, $3, $4, $5, 'superseded', coalesce($6::timestamptz, now()), $7, ${FINGERPRINT_VERSION})
     ON CONFLICT (server, kind, name, fingerprint) DO UPDATE
       SET status = 'superseded', decided_at = EXCLUDED.decided_at, decided_by = EXCLUDED.decided_by, updated_at = now()
       WHERE pinned_definitions.status <> 'rejected'`,
    [...values, decided.decidedAt, decided.by],
  );
  return (result.rowCount ?? 0) > 0;
}

/** Raised to roll a move back (keepForOlderReaders) that would undo a later rejection. */
class RejectedSince extends Error {}

/**
 * The version 1 row of a whole form approved (inserted, or taken from another status), and the form through it; false,
 * nothing written, when the row is rejected and `overRejection` is `earlier` (an approval moved, not made now) and the
 * rejection is not older than the approval. An administrator approving now (`any`) overrules any rejection, as approve
 * does.
 */
async function approveVersion1(
  client: pg.PoolClient,
  pin: Sighting,
  version1: string,
  decided: { at: string | null; by: string | null; overRejection: "any" | "earlier" },
): Promise<boolean> {
  // ON CONFLICT … WHERE sees the row as committed last, locked: a rejection committed after this statement began counts.
  const taken = await client.query(
    `INSERT INTO pinned_definitions (server, kind, name, fingerprint, definition, status, decided_at, decided_by,
       fingerprint_version)
     VALUES ($1, $2, $3, $4, $5, 'approved', coalesce($6::timestamptz, now()), $7, 1)
     ON CONFLICT (server, kind, name, fingerprint) DO UPDATE
       SET status = 'approved', decided_at = EXCLUDED.decided_at, decided_by = EXCLUDED.decided_by, updated_at = now()
       WHERE $8 = 'any' OR pinned_definitions.status <> 'rejected' OR pinned_definitions.decided_at < EXCLUDED.decided_at`,
    [pin.server, pin.kind, pin.name, version1, JSON.stringify(pin.definition), decided.at, decided.by, decided.overRejection],
  );
  if ((taken.rowCount ?? 0) === 0) return false;
  await client.query(
    `UPDATE pinned_definitions SET status = 'superseded', decided_at = coalesce($5::timestamptz, now()), decided_by = $6,
       updated_at = now()
     WHERE server = $1 AND kind = $2 AND name = $3 AND fingerprint = $4`,
    [pin.server, pin.kind, pin.name, pin.fingerprint, decided.at, decided.by],
  );
  return true;
}

/**
 * The fingerprint of version 1 a stored definition is approved under, when it is not its own: the definition has
 * fields version 1 did not cover, and it hashes to its fingerprint (a row not written from a definition, as some
 * tests make, is approved as itself).
 */
export function version1Of(
  row: Pick<PinnedDefinition, "kind" | "fingerprint"> & { definition: Record<string, unknown> | null },
): string | undefined {
  if (typeof row.definition !== "object" || row.definition === null || Array.isArray(row.definition)) return undefined;
  const { fingerprint, version1 } = pinnedForm(row.kind, row.definition);
  return fingerprint === row.fingerprint && version1 !== fingerprint ? version1 : undefined;
}

// The approved definition is superseded only when the one to approve can be: nothing to approve changes nothing, so
// the caller's transaction can go on (and commit) without a rollback. The unique index on approved rows refuses a
// second approval racing this one.
async function approveOn(client: pg.PoolClient, key: PinKey, by: string): Promise<boolean> {
  const where = "server = $1 AND kind = $2 AND name = $3";
  const { rows } = await client.query<Pick<PinnedDefinition, "definition">>(
    `SELECT definition FROM pinned_definitions WHERE ${where} AND fingerprint = $4 AND ${APPROVABLE} FOR UPDATE`,
    [key.server, key.kind, key.name, key.fingerprint],
  );
  const change = rows[0];
  if (!change) return false;
  const version1 = version1Of({ ...key, definition: change.definition });
  await client.query(
    `UPDATE pinned_definitions SET status = 'superseded', updated_at = now() WHERE ${where} AND status = 'approved'
     AND fingerprint <> $4`,
    [key.server, key.kind, key.name, version1 ?? key.fingerprint],
  );
  if (version1) {
    await approveVersion1(client, { ...key, definition: change.definition }, version1, { at: null, by, overRejection: "any" });
    return true;
  }
  const approved = await client.query(
    `UPDATE pinned_definitions SET status = 'approved', decided_at = now(), decided_by = $5, updated_at = now()
     WHERE ${where} AND fingerprint = $4 AND ${APPROVABLE}`,
    [key.server, key.kind, key.name, key.fingerprint, by],
  );
  return (approved.rowCount ?? 0) > 0;
}
