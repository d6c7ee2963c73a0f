import { DEFINITION_KINDS } from "../../../contract/ops-trust.ts";
import { type DefinitionKind, nameOf, pinnedForm } from "./fingerprint.ts";
import { type PinStatus, type PinStore, type PolledDefinition, version1Of } from "./pin-store.ts";

/**
 * Per server: `trust-on-first-use` approves a definition the first time its name is seen and holds back any later
 * change until an administrator approves it; `require-approval` holds back even the first; `off` pins nothing.
 */
export type PinningMode = "off" | "trust-on-first-use" | "require-approval";

/** What happened to a definition, for the audit trail. */
export type PinEvent = "first_seen" | "held" | "changed";

export interface DefinitionPinsOptions {
  store: PinStore;
  /** A server's mode for one kind of definition (a server may leave its resources unpinned, `pinResources`). */
  modeOf: (server: string, kind: DefinitionKind) => PinningMode;
  /** Told of each new sighting (audited by the caller). */
  sighted: (event: PinEvent, pin: { server: string; kind: DefinitionKind; name: string; fingerprint: string }) => void;
  log: (line: string) => void;
  /** The most resources pinned per server: MAX_RESOURCE_PINS unless told (tests). */
  maxResourcePins?: number;
  /** Told of each sighting of a resource past that bound, which is not pinned (the origin counts them). */
  unpinned?: (server: string) => void;
}

/**
 * The most static resources pinned per server. Resources are mostly users' data (notes, files, tickets): each URI a
 * server ever listed would be a row, in every instance's memory, forever (s22 hunt G1: 50,000 in 40 s from one user).
 * Past it a new resource of the server is not pinned: under trust-on-first-use it is served as it comes, like a
 * resource's contents (and a later change of it is not held); under require-approval it is withheld, since no row
 * exists to approve. A wanted configuration setting; the constant until then.
 */
export const MAX_RESOURCE_PINS = 10_000;

/**
 * The most sightings one instance learns (writes, and reads back) at once. A first listing of thousands of new names
 * decides them all together: unbounded, each took a connection of the pool every request shares, and those waiting
 * longer than its 10 s for one failed, the listing with them (two such servers at once in the e2e test of s22 G1).
 * They wait here instead, without a timeout, and requests keep the rest of the pool (10 by default).
 */
export const MAX_LEARNING = 4;

type Key = string;
const POLL_OVERLAP_MS = 10_000;
/**
 * Every this many polls the whole table is read again (a minute at the origin's 5 s; a request's own read after its
 * write counts none). A row's updated_at is now(), the
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
/** The approved row of a name: its fingerprint, what it covers, and when it was decided. */
type Approved = { fingerprint: string; version: number; decidedAt: number };
/** A whole form approved through its fingerprint of version 1 (pin-store.ts, throughRow), while decided since it. */
type Through = { version1: string; decidedAt: number };

/**
 * The origin's memory of pinned definitions: which fingerprint is approved for each name, read from PostgreSQL at
 * start and kept current by polling (approvals are made by an administrator, on any instance or from the CLI). Lists
 * and calls are decided from memory; only a definition never seen before costs a database write.
 */
export class DefinitionPins {
  readonly #options: DefinitionPinsOptions;
  readonly #approved = new Map<Key, Approved>();
  /** Per name, its whole forms superseded with a decision time: those approved through a version 1 row among them. */
  readonly #through = new Map<Key, Map<string, Through>>();
  /**
   * The sightings not approved (pending, superseded, rejected): an approved one is its name's entry of #approved. Most
   * rows are approved on first sight (every resource an upstream ever listed, s22 hunt G1): this stays small.
   */
  readonly #seen = new Map<string, Sighting>();
  /** Per server, the URIs of its pinned resources (rows of any status, or being written): what the bound counts. */
  readonly #resources = new Map<string, Set<string>>();
  /** Servers past MAX_RESOURCE_PINS, already logged. */
  readonly #pastBound = new Set<string>();
  /** Approvals not moved for older tasks (a later rejection of their version 1 row), already logged. */
  readonly #refusedMoves = new Set<string>();
  readonly #listeners = new Map<string, Set<() => void>>();
  #lastChange?: Date;
  #polls = 0;
  #reading: Promise<void> = Promise.resolve();
  #timer?: ReturnType<typeof setInterval>;
  #learning = 0;
  /** Sightings waiting for a turn to be written, by server: servers take turns (see #handTurnOn). */
  readonly #waitingToLearn = new Map<string, (() => void)[]>();

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

  /** How many names have an approved definition, and how many other sightings are kept: this instance's memory. */
  get remembered(): { approved: number; sightings: number } {
    return { approved: this.#approved.size, sightings: this.#seen.size };
  }

  /** Whether anything of `server` is pinned (its mode is not `off`); with `kind`, whether that kind is. */
  pins(server: string, kind?: DefinitionKind): boolean {
    const kinds = kind ? [kind] : DEFINITION_KINDS;
    return kinds.some((each) => this.#options.modeOf(server, each) !== "off");
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
  refresh(): Promise<void> {
    return this.#inTurn(() => this.#read(this.#polls++ % FULL_RELOAD_POLLS === 0));
  }

  /** What a request path reads after its own write: the decisions since the last look, counting no poll. */
  #catchUp(): Promise<void> {
    return this.#inTurn(() => this.#read(this.#polls === 0));
  }

  /**
   * Reads take turns: two answered out of order would lay the older snapshot over the newer one (a rejection undone
   * until the next full read, since the watermark has moved past it).
   */
  #inTurn(read: () => Promise<void>): Promise<void> {
    const next = this.#reading.then(read, read);
    this.#reading = next.catch(() => {});
    return next;
  }

  async #read(full: boolean): Promise<void> {
    // A little overlap: a row committed late may carry a time just before the last one seen (applying is idempotent).
    const since = full ? undefined : this.#lastChange && new Date(this.#lastChange.getTime() - POLL_OVERLAP_MS);
    const rows = await this.#options.store.polledSince(since);
    const touched = new Set<string>();
    for (const row of rows) {
      if (this.#apply(row) && this.#lastChange) touched.add(row.server);
      if (!this.#lastChange || row.updatedAt > this.#lastChange) this.#lastChange = row.updatedAt;
    }
    for (const server of touched) for (const listener of this.#listeners.get(server) ?? []) listener();
    await this.#keepForOlderReaders(rows);
  }

  /**
   * Approvals of a whole form recorded under its own fingerprint (by the release before, or by an older task's CLI or
   * /ops during a rolling deploy) are moved under their fingerprint of version 1, which older tasks check: until then,
   * they would withhold the definition as changed. Applied by the next poll; another instance doing it is harmless.
   * Not over a rejection of that fingerprint made since the approval (an older task filed it as a change): that stands.
   */
  async #keepForOlderReaders(rows: readonly PolledDefinition[]): Promise<void> {
    for (const row of rows) {
      const approved = this.#approved.get(keyOf(row.server, row.kind, row.name));
      if (row.status !== "approved" || approved?.fingerprint !== row.fingerprint) continue;
      const version1 = version1Of(row);
      if (!version1 || !row.definition) continue;
      // Not worth failing a poll (or the start) for: the approval holds for this release meanwhile.
      const moved = await this.#options.store
        .keepForOlderReaders({ ...row, definition: row.definition }, version1)
        .catch((error: unknown) =>
          this.#options.log(`pinned definitions: keeping an approval for older tasks failed: ${String(error)}`),
        );
      if (moved === "refused") this.#refused(row, version1);
    }
  }

  /**
   * Told once per approval: every full read tries the move again (and is refused again while the rejection stands).
   * Fingerprints, not names, which can be URIs of someone's files; nor who decided.
   */
  #refused(row: PolledDefinition, version1: string): void {
    const approval = `${sightingOf(keyOf(row.server, row.kind, row.name), row.fingerprint)}\u0000${row.decidedAt?.getTime()}`;
    if (this.#refusedMoves.has(approval)) return;
    this.#refusedMoves.add(approval);
    this.#options.log(
      `pinned definitions: the approved ${row.kind} ${row.fingerprint.slice(0, 12)} of server "${row.server}" stays approved ` +
        `as itself: its fingerprint of version 1 ${version1.slice(0, 12)}, which older tasks check, was rejected after ` +
        "the approval, and they withhold it",
    );
  }

  /** The whole form clients may see under a name: approved itself, or through its approved fingerprint of version 1. */
  #allowed(key: Key): string | undefined {
    const approved = this.#approved.get(key);
    if (!approved) return undefined;
    let through: [string, Through] | undefined;
    for (const entry of this.#through.get(key) ?? []) {
      const [, form] = entry;
      if (form.version1 === approved.fingerprint && form.decidedAt >= approved.decidedAt)
        if (!through || form.decidedAt > through[1].decidedAt) through = entry;
    }
    return through ? through[0] : approved.fingerprint;
  }

  /** The definitions of a list that clients may see; new ones are recorded (and, on first sight, trusted or held). */
  async visible<T extends Record<string, unknown>>(server: string, kind: DefinitionKind, items: readonly T[]): Promise<T[]> {
    if (this.#options.modeOf(server, kind) === "off") return [...items];
    const decisions = await Promise.all(items.map((item) => this.allows(server, kind, item)));
    return items.filter((_, index) => decisions[index] === undefined);
  }

  /** Undefined when the definition may be used; else why not, in words a client can show. */
  async allows(server: string, kind: DefinitionKind, definition: Record<string, unknown>): Promise<string | undefined> {
    const mode = this.#options.modeOf(server, kind);
    if (mode === "off") return undefined;
    const { form, fingerprint, version1 } = pinnedForm(kind, definition);
    const pin = { server, kind, name: nameOf(kind, definition), fingerprint, definition: form };
    const key = keyOf(server, kind, pin.name);
    if (this.#allowed(key) === fingerprint) return undefined;
    const counted = kind === "resource" ? this.#pinsResource(server, pin.name) : "known";
    if (!counted) return this.#unpinned(mode, server, pin.name);
    try {
      await this.#inLearningTurn(server, () =>
        this.#allowed(key) === fingerprint ? undefined : this.#learn(mode, pin, version1),
      );
    } catch (error) {
      // Not written (the database away): counted, it would stay a pin without a row until restart (s22 review R10).
      if (counted === "new") this.#resources.get(server)?.delete(pin.name);
      throw error;
    }
    if (this.#allowed(key) === fingerprint) return undefined;
    return refusal(pin, this.#approved.has(key), this.#sighting(key, fingerprint));
  }

  /** Runs `learn` once fewer than MAX_LEARNING others run; a turn that ends goes to the next server's (#handTurnOn). */
  async #inLearningTurn(server: string, learn: () => Promise<void> | undefined): Promise<void> {
    if (this.#learning < MAX_LEARNING) this.#learning++;
    else
      await new Promise<void>((resolve) => {
        const queue = this.#waitingToLearn.get(server);
        if (queue) queue.push(resolve);
        else this.#waitingToLearn.set(server, [resolve]);
      });
    try {
      await learn();
    } finally {
      this.#handTurnOn();
    }
  }

  /**
   * Gives an ended turn to the server first in line, which then goes to the back: one server's burst of thousands of
   * new names (a first listing) no longer holds up another's one new tool behind all of it.
   */
  #handTurnOn(): void {
    const first = this.#waitingToLearn.entries().next();
    if (first.done) {
      this.#learning--;
      return;
    }
    const [server, queue] = first.value;
    const next = queue.shift() as () => void;
    this.#waitingToLearn.delete(server);
    if (queue.length > 0) this.#waitingToLearn.set(server, queue);
    next();
  }

  /**
   * Whether a resource of `server` is pinned: "known" already, or "new" while the server is under MAX_RESOURCE_PINS. A
   * new one counts at once, before it is written (the resources of one list are decided together, and cannot overshoot
   * the bound); its caller uncounts it if the write fails.
   */
  #pinsResource(server: string, uri: string): "known" | "new" | false {
    const known = this.#resources.get(server) ?? new Set<string>();
    if (known.has(uri)) return "known";
    if (known.size >= (this.#options.maxResourcePins ?? MAX_RESOURCE_PINS)) return false;
    this.#resources.set(server, known.add(uri));
    return "new";
  }

  /** A resource past the bound: logged once per server (no URI: they name users' data), counted each time. */
  #unpinned(mode: PinningMode, server: string, uri: string): string | undefined {
    const bound = this.#options.maxResourcePins ?? MAX_RESOURCE_PINS;
    if (!this.#pastBound.has(server)) {
      this.#pastBound.add(server);
      this.#options.log(
        `pinned definitions: server "${server}" has ${bound} pinned resources or more, the most pinned per server: its new ` +
          `resources are ${mode === "require-approval" ? "withheld (require-approval)" : "served unpinned"} ` +
          '(a server of user data takes "pinResources": false; docs/pinning.md)',
      );
    }
    this.#options.unpinned?.(server);
    if (mode !== "require-approval") return undefined;
    return `the resource "${uri}" of server "${server}" is not pinned (the server has the most pinned resources per server, ${bound}), and under require-approval what is not pinned is withheld`;
  }

  /**
   * Learns of a definition that is not allowed: an approval of its fields of version 1 carried over to it, or a
   * sighting recorded. Such an approval is carried over when nothing was approved through it since: made before the
   * upgrade, or since by an older task's CLI or /ops (a rolling deploy, a rollback), which knows only version 1.
   */
  async #learn(mode: PinningMode, pin: Pin, version1: string): Promise<void> {
    const key = keyOf(pin.server, pin.kind, pin.name);
    const seen = this.#sighting(key, pin.fingerprint);
    const approved = this.#approved.get(key);
    const carried = approved?.version === 1 && approved.fingerprint === version1 && version1 !== pin.fingerprint;
    if (carried && this.#allowed(key) === version1 && seen?.status !== "rejected") return this.#carryOver(pin, version1);
    // A superseded definition seen again (an upstream rolled back) is a change like any other: it waits anew.
    if (!seen || seen.status === "superseded") await this.#record(mode, pin, version1);
  }

  /**
   * Approves the whole form of a definition whose fields of version 1 were approved, and are unchanged: its other
   * fields (icons, say) were not pinned by whoever approved it, and are trusted as on first use (and audited so) rather
   * than the definition withheld until an administrator approves it again.
   */
  async #carryOver(pin: Pin, version1: string): Promise<void> {
    if (!(await this.#options.store.carryOver(pin, version1))) return this.#catchUp();
    await this.#catchUp();
    this.#options.sighted("first_seen", pin);
  }

  /** Records a sighting not recorded yet (or superseded), and audits it; learns from the table when another did. */
  async #record(mode: PinningMode, pin: Pin, version1: string): Promise<void> {
    const key = keyOf(pin.server, pin.kind, pin.name);
    const approved = this.#approved.get(key);
    // A definition whose version 1 row an older task recorded (and not approved) is no first sight.
    const olderSighting = version1 !== pin.fingerprint && this.#sighting(key, version1) !== undefined;
    const firstSight = approved === undefined && mode === "trust-on-first-use" && !olderSighting;
    if (firstSight && version1 !== pin.fingerprint) {
      // Approved under its fingerprint of version 1, which older tasks of a rolling deploy check (pin-store.ts).
      if (!(await this.#options.store.recordFirstSight(pin, version1))) return this.#catchUp();
      await this.#catchUp();
      return this.#options.sighted("first_seen", pin);
    }
    if (!(await this.#options.store.record(pin, firstSight ? "approved" : "pending"))) return this.#catchUp();
    // Decided now: no form approved through an earlier decision of this fingerprint counts (the next poll says when).
    if (firstSight) this.#approved.set(key, { fingerprint: pin.fingerprint, version: 2, decidedAt: Number.POSITIVE_INFINITY });
    else this.#seen.set(sightingOf(key, pin.fingerprint), { status: "pending", decidedBy: null });
    this.#options.sighted(firstSight ? "first_seen" : approved === undefined ? "held" : "changed", pin);
  }

  /** What the table says of a fingerprint of a name: approved when it is the name's approved one. */
  #sighting(key: Key, fingerprint: string): Sighting | undefined {
    if (this.#approved.get(key)?.fingerprint === fingerprint) return { status: "approved", decidedBy: null };
    return this.#seen.get(sightingOf(key, fingerprint));
  }

  /** Applies one row as read; true when what clients of its name may see changed. */
  #apply(row: PolledDefinition): boolean {
    const key = keyOf(row.server, row.kind, row.name);
    if (row.kind === "resource") this.#resources.set(row.server, (this.#resources.get(row.server) ?? new Set()).add(row.name));
    const before = this.#allowed(key);
    const sighting = sightingOf(key, row.fingerprint);
    if (row.status === "approved") this.#seen.delete(sighting);
    else this.#seen.set(sighting, { status: row.status, decidedBy: row.decidedBy });
    const approved = this.#approved.get(key);
    if (row.status === "approved")
      this.#approved.set(key, {
        fingerprint: row.fingerprint,
        version: row.fingerprintVersion,
        decidedAt: row.decidedAt?.getTime() ?? 0,
      });
    else if (approved?.fingerprint === row.fingerprint) this.#approved.delete(key);
    const through = this.#through.get(key) ?? new Map<string, Through>();
    const version1 = row.status === "superseded" && row.decidedAt ? version1Of(row) : undefined;
    if (version1) this.#through.set(key, through.set(row.fingerprint, { version1, decidedAt: row.decidedAt?.getTime() ?? 0 }));
    else through.delete(row.fingerprint);
    return before !== this.#allowed(key);
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
