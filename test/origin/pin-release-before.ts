import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import type pg from "pg";
import { inTransaction } from "../../aws/origin/db/transaction.ts";
// The pinned-definition reader and store of the release before fingerprints covered whole definitions (b6b1ba9, the
// parent of 4ec9e25), frozen: what an older origin task of a rolling deploy (or after a rollback) runs beside this
// release, on the same table. Old code cannot change, so pin-rollout.test.ts checks what this release writes and reads
// against it. Only the imports are adapted, and the three files joined.

/** What the origin pins: an upstream's tools, prompts, resource templates, and its discovery result. */
export type DefinitionKind = "tool" | "prompt" | "resource_template" | "discovery";

/** The parts of each kind of definition that change what a client or model is told (all of them but volatile ones). */
const PINNED_FIELDS: Record<DefinitionKind, readonly string[]> = {
  tool: ["name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta"],
  prompt: ["name", "title", "description", "arguments", "_meta"],
  resource_template: ["uriTemplate", "name", "title", "description", "mimeType", "annotations", "_meta"],
  discovery: ["capabilities", "instructions", "serverInfo"],
};

type PinnedForm = { form: Record<string, unknown>; fingerprint: string };

/**
 * Fingerprints already taken, per definition object: a call checks the definition its server last listed, the same
 * object every time, so the canonical JSON and its hash are computed once per listing, not once per call. Sound because
 * nothing changes a listed definition in place (the guardrails copy what they change: guardrails/strings.ts).
 */
const taken = new WeakMap<Record<string, unknown>, Partial<Record<DefinitionKind, PinnedForm>>>();

/** The pinned parts of a definition, and their fingerprint: SHA-256 of their RFC 8785 canonical JSON. */
export function pinnedForm(kind: DefinitionKind, definition: Record<string, unknown>): PinnedForm {
  const known = taken.get(definition) ?? {};
  const cached = known[kind];
  if (cached) return cached;
  const form = Object.fromEntries(
    PINNED_FIELDS[kind].filter((field) => definition[field] !== undefined).map((field) => [field, definition[field]]),
  );
  const fingerprint = createHash("sha256")
    .update(canonicalize(form) ?? "")
    .digest("hex");
  known[kind] = { form, fingerprint };
  taken.set(definition, known);
  return known[kind];
}

/** The name a definition is pinned under. */
export const nameOf = (kind: DefinitionKind, definition: Record<string, unknown>): string =>
  String(kind === "resource_template" ? definition.uriTemplate : kind === "discovery" ? "" : definition.name);

export type PinStatus = "approved" | "pending" | "superseded" | "rejected";

export interface PinnedDefinition {
  server: string;
  kind: DefinitionKind;
  name: string;
  fingerprint: string;
  definition: Record<string, unknown>;
  status: PinStatus;
  firstSeen: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  updatedAt: Date;
}

const COLUMNS = `server, kind, name, fingerprint, definition, status, first_seen AS "firstSeen", decided_at AS "decidedAt",
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
    async record(
      pin: { server: string; kind: DefinitionKind; name: string; fingerprint: string; definition: object },
      status: "approved" | "pending",
    ): Promise<boolean> {
      const result = await pool.query(
        `INSERT INTO pinned_definitions (server, kind, name, fingerprint, definition, status, decided_at, decided_by)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 = 'approved' THEN now() END, CASE WHEN $6 = 'approved' THEN 'first sight' END)
         ON CONFLICT (server, kind, name, fingerprint) DO UPDATE
           SET status = 'pending', decided_at = NULL, decided_by = NULL, updated_at = now()
           WHERE pinned_definitions.status = 'superseded' AND $6 = 'pending'`,
        [pin.server, pin.kind, pin.name, pin.fingerprint, JSON.stringify(pin.definition), status],
      );
      return (result.rowCount ?? 0) > 0;
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

/**
 * Per server: `trust-on-first-use` approves a definition the first time its name is seen and holds back any later
 * change until an administrator approves it; `require-approval` holds back even the first; `off` pins nothing.
 */
export type PinningMode = "off" | "trust-on-first-use" | "require-approval";

/** What happened to a definition, for the audit trail. */
export type PinEvent = "first_seen" | "held" | "changed";

export interface DefinitionPinsOptions {
  store: PinStore;
  modeOf: (server: string) => PinningMode;
  /** Told of each new sighting (audited by the caller). */
  sighted: (event: PinEvent, pin: { server: string; kind: DefinitionKind; name: string; fingerprint: string }) => void;
  log: (line: string) => void;
}

type Key = string;
const POLL_OVERLAP_MS = 10_000;
const keyOf = (server: string, kind: DefinitionKind, name: string): Key => `${server}\u0000${kind}\u0000${name}`;
const sightingOf = (key: Key, fingerprint: string) => `${key}\u0000${fingerprint}`;

/** What the table says of one definition seen: its status, and who decided it. */
type Sighting = { status: PinStatus; decidedBy: string | null };
type Pin = { server: string; kind: DefinitionKind; name: string; fingerprint: string; definition: Record<string, unknown> };

/**
 * The origin's memory of pinned definitions: which fingerprint is approved for each name, read from PostgreSQL at
 * start and kept current by polling (approvals are made by an administrator, on any instance or from the CLI). Lists
 * and calls are decided from memory; only a definition never seen before costs a database write.
 */
export class DefinitionPins {
  readonly #options: DefinitionPinsOptions;
  readonly #approved = new Map<Key, string>();
  readonly #seen = new Map<string, Sighting>();
  readonly #listeners = new Map<string, Set<() => void>>();
  #lastChange?: Date;
  #timer?: ReturnType<typeof setInterval>;

  constructor(options: DefinitionPinsOptions) {
    this.#options = options;
  }

  /** Loads what is pinned, then polls for decisions every `pollMs`. */
  async start(pollMs: number): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.#options.log(`pinned definitions: refresh failed: ${String(error)}`));
    }, pollMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Whether anything of `server` is pinned (its mode is not `off`). */
  pins(server: string): boolean {
    return this.#options.modeOf(server) !== "off";
  }

  /** Calls `listener` whenever an administrator's decision changes what clients of `server` may see. */
  subscribe(server: string, listener: () => void): () => void {
    const listeners = this.#listeners.get(server) ?? new Set();
    this.#listeners.set(server, listeners.add(listener));
    return () => listeners.delete(listener);
  }

  /** Applies the decisions made since the last look; servers whose approvals changed are announced. */
  async refresh(): Promise<void> {
    // A little overlap: a row committed late may carry a time just before the last one seen (applying is idempotent).
    const since = this.#lastChange && new Date(this.#lastChange.getTime() - POLL_OVERLAP_MS);
    const rows = await this.#options.store.changedSince(since);
    const touched = new Set<string>();
    for (const row of rows) {
      if (this.#apply(row) && this.#lastChange) touched.add(row.server);
      if (!this.#lastChange || row.updatedAt > this.#lastChange) this.#lastChange = row.updatedAt;
    }
    for (const server of touched) for (const listener of this.#listeners.get(server) ?? []) listener();
  }

  /** The definitions of a list that clients may see; new ones are recorded (and, on first sight, trusted or held). */
  async visible<T extends Record<string, unknown>>(server: string, kind: DefinitionKind, items: readonly T[]): Promise<T[]> {
    if (this.#options.modeOf(server) === "off") return [...items];
    const decisions = await Promise.all(items.map((item) => this.allows(server, kind, item)));
    return items.filter((_, index) => decisions[index] === undefined);
  }

  /** Undefined when the definition may be used; else why not, in words a client can show. */
  async allows(server: string, kind: DefinitionKind, definition: Record<string, unknown>): Promise<string | undefined> {
    const mode = this.#options.modeOf(server);
    if (mode === "off") return undefined;
    const name = nameOf(kind, definition);
    const { form, fingerprint } = pinnedForm(kind, definition);
    const key = keyOf(server, kind, name);
    if (this.#approved.get(key) === fingerprint) return undefined;
    const seen = this.#seen.get(sightingOf(key, fingerprint));
    // A superseded definition seen again (an upstream rolled back) is a change like any other: it waits anew.
    if (!seen || seen.status === "superseded") await this.#record(mode, { server, kind, name, fingerprint, definition: form });
    if (this.#approved.get(key) === fingerprint) return undefined;
    return refusal({ server, kind, name }, this.#approved.has(key), this.#seen.get(sightingOf(key, fingerprint)));
  }

  /** Records a sighting not recorded yet (or superseded), and audits it; learns from the table when another did. */
  async #record(mode: PinningMode, pin: Pin): Promise<void> {
    const key = keyOf(pin.server, pin.kind, pin.name);
    const approved = this.#approved.get(key);
    const firstSight = approved === undefined && mode === "trust-on-first-use";
    if (!(await this.#options.store.record(pin, firstSight ? "approved" : "pending"))) return this.refresh();
    this.#seen.set(sightingOf(key, pin.fingerprint), { status: firstSight ? "approved" : "pending", decidedBy: null });
    if (firstSight) this.#approved.set(key, pin.fingerprint);
    this.#options.sighted(firstSight ? "first_seen" : approved === undefined ? "held" : "changed", pin);
  }

  #apply(row: PinnedDefinition): boolean {
    const key = keyOf(row.server, row.kind, row.name);
    this.#seen.set(sightingOf(key, row.fingerprint), { status: row.status, decidedBy: row.decidedBy });
    const before = this.#approved.get(key);
    if (row.status === "approved") this.#approved.set(key, row.fingerprint);
    else if (before === row.fingerprint) this.#approved.delete(key);
    return before !== this.#approved.get(key);
  }
}

/** Why a definition is withheld: it was rejected, it waits for its first approval, or it changed since one. */
function refusal(pin: Omit<Pin, "fingerprint" | "definition">, approvedBefore: boolean, seen: Sighting | undefined): string {
  const what =
    pin.kind === "discovery"
      ? `the description (instructions, capabilities) of server "${pin.server}"`
      : `the ${describe(pin.kind)} "${pin.name}" of server "${pin.server}"`;
  // Not "until an administrator approves": a rejected definition is not asked about again.
  if (seen?.status === "rejected")
    return `${what} was rejected by ${seen.decidedBy ? `an administrator (${seen.decidedBy})` : "an administrator"}; it is withheld`;
  return approvedBefore
    ? `${what} changed since it was approved; it is withheld until an administrator approves the change`
    : `${what} waits for an administrator's approval before first use`;
}

const describe = (kind: DefinitionKind) =>
  kind === "resource_template" ? "resource template" : kind === "discovery" ? "description" : kind;
