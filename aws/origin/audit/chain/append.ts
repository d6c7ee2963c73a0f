import type pg from "pg";
import type { AuditEvent } from "../../../../contract/audit-event.ts";
import { inTransaction } from "../../db/transaction.ts";
import { COLUMNS, storedValues } from "../columns.ts";
import { canonicalContent, linkHash } from "./link.ts";

/** A chain's last row: its seq and hash. */
export interface ChainHead {
  chain: number;
  seq: number;
  hash: Buffer;
}

// Any chain no other transaction holds, else wait for one: several instances (and connections) write at once, each
// batch in one chain, and the lock on the chain's row is what keeps two writers from forking it.
const CLAIM_FREE_CHAIN = "SELECT chain, seq, hash FROM audit_chains ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED";
const CLAIM_SOME_CHAIN = `SELECT chain, seq, hash FROM audit_chains
  WHERE chain = (SELECT chain FROM audit_chains ORDER BY random() LIMIT 1) FOR UPDATE`;

const STORED_IDS = "SELECT id::text FROM audit_events WHERE id = ANY($1::uuid[])";

const CHAIN_COLUMNS = [
  ["chain", "int"],
  ["seq", "bigint"],
  ["prev_hash", "bytea"],
  ["hash", "bytea"],
] as const;

const ALL_COLUMNS = [...COLUMNS.map(([, column, type]) => [column, type] as const), ...CHAIN_COLUMNS];
const HEAD_PARAMETER = ALL_COLUMNS.length + 1;

// One parameter per column, each an array holding that column for every row: the statement text is the same for any
// batch size (one cached plan) and far from the 65,535-parameter limit. The chain's head moves in the same statement.
const INSERT = `WITH written AS (
  INSERT INTO audit_events (${ALL_COLUMNS.map(([column]) => column).join(", ")})
  SELECT * FROM unnest(${ALL_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")})
  ON CONFLICT (id) DO NOTHING RETURNING 1
), head AS (
  UPDATE audit_chains SET seq = $${HEAD_PARAMETER}, hash = $${HEAD_PARAMETER + 1} WHERE chain = $${HEAD_PARAMETER + 2}
)
SELECT count(*)::int AS written FROM written`;

/** How often a batch is tried again after another writer stored one of its events meanwhile (or a deadlock). */
const ATTEMPTS = 5;

/** Postgres: deadlock detected (two batches sharing events, written in different orders by two writers). */
const DEADLOCK = "40P01";

/** A batch that lost a race: rolled back and tried again, when the stored ids are read anew. */
class LostRace extends Error {}

/**
 * Stores the events not yet stored (the first of repeated ids) as the next links of one chain, all or nothing.
 * Returns how many were written and the chain's new head (none when nothing was new).
 */
export async function appendToChain(
  pool: pg.Pool,
  events: readonly AuditEvent[],
): Promise<{ inserted: number; head?: ChainHead }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const fresh = await newEvents(pool, events);
      if (fresh.length === 0) return { inserted: 0 };
      const head = await inTransaction(pool, (client) => writeLinks(client, fresh));
      return { inserted: fresh.length, head };
    } catch (error) {
      const retry = error instanceof LostRace || (error as { code?: string }).code === DEADLOCK;
      if (!retry || attempt >= ATTEMPTS) throw error;
    }
  }
}

/**
 * Runs `act` and appends the events it returns to a chain in the same transaction: what an operator does (a pin
 * decision, a revocation) is committed with its record or not at all. The events must be new (fresh ids); a throw
 * from `act` or from the append rolls back both.
 */
export async function appendWithAction<T>(
  pool: pg.Pool,
  act: (client: pg.PoolClient) => Promise<{ result: T; events: readonly AuditEvent[] }>,
): Promise<{ result: T; head?: ChainHead }> {
  return inTransaction(pool, async (client) => {
    const { result, events } = await act(client);
    return { result, head: events.length > 0 ? await writeLinks(client, events) : undefined };
  });
}

/** The events whose id is not stored, each id once (its first event). */
async function newEvents(pool: pg.Pool, events: readonly AuditEvent[]): Promise<AuditEvent[]> {
  const ids = events.map((event) => event.id.toLowerCase());
  const { rows } = await pool.query<{ id: string }>(STORED_IDS, [ids]);
  const seen = new Set(rows.map((row) => row.id));
  return events.filter((_, index) => {
    const id = ids[index] as string;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

async function writeLinks(client: pg.PoolClient, events: readonly AuditEvent[]): Promise<ChainHead> {
  const claimed = (await client.query(CLAIM_FREE_CHAIN)).rows[0] ?? (await client.query(CLAIM_SOME_CHAIN)).rows[0];
  if (!claimed) throw new Error("no audit chain to write to: the audit_chains table is empty (migration 0007 adds them)");
  const chain = Number(claimed.chain);
  let seq = Number(claimed.seq);
  let hash = claimed.hash as Buffer;
  const columns: unknown[][] = ALL_COLUMNS.map(() => []);
  for (const event of events) {
    const values = storedValues(event);
    seq += 1;
    const previous = hash;
    hash = linkHash(canonicalContent(values, { chain, seq }), previous);
    for (const [index, value] of [...values, chain, seq, previous, hash].entries()) columns[index]?.push(value);
  }
  const { rows } = await client.query(INSERT, [...columns, seq, hash, chain]);
  // Another writer stored one of these events since they were read: its seq would be missing from the chain.
  if (rows[0]?.written !== events.length) throw new LostRace();
  return { chain, seq, hash };
}
