import { type DefinitionKind, nameOf, pinnedForm } from "./fingerprint.ts";
import type { PinnedDefinition, PinStatus, PinStore } from "./pin-store.ts";

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
/**
 * Every this many polls the whole table is read again (a minute at the origin's 5 s). A row's updated_at is now(), the
 * start of the transaction that wrote it, so a decision committing more than the overlap after it began (an audit chain
 * held by ingest, a CLI without a statement bound) can carry a time the watermark has already passed; no watermark
 * drawn from now() can wait for transactions not yet committed. The full read bounds how long such a row goes unseen,
 * whatever its transaction's length, for one row per definition a minute.
 */
export const FULL_RELOAD_POLLS = 12;
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
  /** The names whose approved fingerprint is of version 1 (fingerprint.ts), approved before an upgrade. */
  readonly #version1 = new Set<Key>();
  readonly #seen = new Map<string, Sighting>();
  readonly #listeners = new Map<string, Set<() => void>>();
  #lastChange?: Date;
  #polls = 0;
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

  /**
   * Applies the decisions made since the last look (every FULL_RELOAD_POLLS-th time, all of them again); servers whose
   * approvals changed are announced. Applying a row twice, or rows of the whole table in updated_at order over what is
   * known, ends where a fresh load would: each name's last approved row is approved, what it superseded is not.
   */
  async refresh(): Promise<void> {
    const full = this.#polls++ % FULL_RELOAD_POLLS === 0;
    // A little overlap: a row committed late may carry a time just before the last one seen (applying is idempotent).
    const since = full ? undefined : this.#lastChange && new Date(this.#lastChange.getTime() - POLL_OVERLAP_MS);
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
    const { form, fingerprint, version1 } = pinnedForm(kind, definition);
    const pin = { server, kind, name: nameOf(kind, definition), fingerprint, definition: form };
    const key = keyOf(server, kind, pin.name);
    if (this.#approved.get(key) === fingerprint) return undefined;
    await this.#learn(mode, pin, version1);
    if (this.#approved.get(key) === fingerprint) return undefined;
    return refusal(pin, this.#approved.has(key), this.#seen.get(sightingOf(key, fingerprint)));
  }

  /** Learns of a definition that is not approved: an approval of version 1 carried over, or a sighting recorded. */
  async #learn(mode: PinningMode, pin: Pin, version1: string): Promise<void> {
    const key = keyOf(pin.server, pin.kind, pin.name);
    const seen = this.#seen.get(sightingOf(key, pin.fingerprint));
    if (!seen && this.#version1.has(key) && this.#approved.get(key) === version1) return this.#carryOver(pin, version1);
    // A superseded definition seen again (an upstream rolled back) is a change like any other: it waits anew.
    if (!seen || seen.status === "superseded") await this.#record(mode, pin);
  }

  /**
   * Approves the whole form of a definition whose fields of version 1 were approved before an upgrade and are unchanged:
   * its other fields (icons, say) were never pinned, and are trusted as on first use (and audited so) rather than every
   * such definition withheld after the upgrade until an administrator approves it again.
   */
  async #carryOver(pin: Pin, version1: string): Promise<void> {
    if (!(await this.#options.store.carryOver(pin, version1))) return this.refresh();
    const key = keyOf(pin.server, pin.kind, pin.name);
    this.#seen.set(sightingOf(key, pin.fingerprint), { status: "approved", decidedBy: null });
    this.#approved.set(key, pin.fingerprint);
    this.#version1.delete(key);
    this.#options.sighted("first_seen", pin);
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
    if (row.status === "approved" && row.fingerprintVersion === 1) this.#version1.add(key);
    else if (row.status === "approved" || before === row.fingerprint) this.#version1.delete(key);
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
