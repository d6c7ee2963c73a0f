import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { DefinitionPins, FULL_RELOAD_POLLS, type PinningMode } from "../../aws/origin/pinning/definition-pins.ts";
import { pinnedForm } from "../../aws/origin/pinning/fingerprint.ts";
import { createPinStore } from "../../aws/origin/pinning/pin-store.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { DefinitionPins as OlderPins, createPinStore as olderPinStore } from "./pin-release-before.ts";

// A whole form approved under its own fingerprint (by the release before this one, or an older task's CLI) is moved to
// its fingerprint of version 1 by this release's next poll. Before that poll, a task of the release before whole forms
// were pinned may file that version 1 fingerprint as a change, and an administrator reject it: the move must not undo
// that later rejection (review R9). A rejection made before the approval is the approval's to overrule.
const HOUR = 3_600_000;
const ADMIN = "admin@example.com";
let pool: pg.Pool;
const logged: string[] = [];
const rowsOf = async (name: string) =>
  (await createPinStore(pool).changedSince())
    .filter((row) => row.name === name)
    .map((row) => `${row.fingerprint.slice(0, 6)} v${row.fingerprintVersion} ${row.status}`)
    .sort();
const tool = (name: string) => ({
  name,
  description: `${name}s`,
  inputSchema: { type: "object" },
  icons: [{ src: "https://good.example/i.png" }],
});

/**
 * Waits until the database's clock is past the rejection of `name`. Embedded PGlite's now() has milliseconds only, and
 * a decision stamped in the rejection's millisecond is no later than it (pin-store.ts refuses to move the approval):
 * made at once, the approval of the next case landed in the same millisecond about 2 runs in 3 beside the other pin
 * tests.
 */
async function pastRejectionOf(name: string) {
  const past = async () =>
    (
      await pool.query<{ past: boolean }>(
        `SELECT now() > max(decided_at) AS past FROM pinned_definitions WHERE name = $1 AND status = 'rejected'`,
        [name],
      )
    ).rows[0]?.past;
  await expect.poll(past, { interval: 1 }).toBe(true);
}

/** A task of each release, loaded now, polled by hand. */
async function tasks(mode: PinningMode) {
  const options = { modeOf: () => mode, sighted: () => {}, log: (line: string) => void logged.push(line) };
  const newer = new DefinitionPins({ ...options, store: createPinStore(pool) });
  const older = new OlderPins({ ...options, store: olderPinStore(pool) });
  await older.start(HOUR);
  await newer.start(HOUR);
  older.stop();
  newer.stop();
  return { newer, older };
}

/**
 * The whole form of `definition` approved by an older task's CLI (the newer task holding it, not polled since), then
 * filed by an older task as a change of it: its version 1 row pending. `decide` runs in between, or after.
 */
async function approvedThenFiled(server: string, definition: Record<string, unknown>) {
  const pins = await tasks("require-approval");
  const { fingerprint: whole, version1 } = pinnedForm("tool", definition);
  expect(await pins.newer.allows(server, "tool", definition)).toContain("waits for an administrator's approval");
  const key = { server, kind: "tool" as const, name: String(definition.name) };
  expect(await olderPinStore(pool).approve({ ...key, fingerprint: whole }, ADMIN)).toBe(true);
  await pins.older.refresh();
  expect(await pins.older.allows(server, "tool", definition)).toContain("changed since it was approved");
  return { pins, whole: whole.slice(0, 6), version1: version1.slice(0, 6), olderRow: { ...key, fingerprint: version1 } };
}

describe("moving a whole form's approval for older tasks, after its version 1 row was rejected", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await withTestDatabase();
    await migrate(database.pool);
    pool = database.pool;
  });
  afterAll(async () => database?.close());

  it("leaves a rejection made after the approval as it is, and the whole form approved", async () => {
    const gauge = tool("gauge");
    const { pins, whole, version1, olderRow } = await approvedThenFiled("r", gauge);
    expect(await olderPinStore(pool).reject(olderRow, ADMIN)).toBe(true);
    logged.length = 0;
    await pins.newer.refresh(); // this release's first look at the approval: the move is refused
    expect(await rowsOf("gauge")).toEqual([`${version1} v1 rejected`, `${whole} v2 approved`].sort());
    await pins.older.refresh();
    const [newer, older] = [await pins.newer.allows("r", "tool", gauge), await pins.older.allows("r", "tool", gauge)];
    expect(newer).toBeUndefined();
    expect(older).toContain("was rejected");
    // Said once, without who decided; later polls and full reads change nothing.
    for (let poll = 0; poll <= FULL_RELOAD_POLLS; poll++) await pins.newer.refresh();
    expect(await rowsOf("gauge")).toEqual([`${version1} v1 rejected`, `${whole} v2 approved`].sort());
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain("rejected after");
    expect(logged[0]).not.toContain(ADMIN);
  });

  it("moves an approval made after a rejection of its version 1 row: the later decision stands", async () => {
    const pins = await tasks("require-approval");
    const meter = tool("meter");
    const { fingerprint: whole, version1 } = pinnedForm("tool", meter);
    const key = { server: "s", kind: "tool" as const, name: "meter" };
    // Both hold it on first sight; the administrator rejects the older task's row, then approves the whole form.
    expect(await pins.newer.allows("s", "tool", meter)).toContain("waits");
    expect(await pins.older.allows("s", "tool", meter)).toContain("waits");
    expect(await olderPinStore(pool).reject({ ...key, fingerprint: version1 }, ADMIN)).toBe(true);
    await pastRejectionOf("meter");
    expect(await olderPinStore(pool).approve({ ...key, fingerprint: whole }, ADMIN)).toBe(true);
    logged.length = 0;
    await pins.newer.refresh();
    expect(await rowsOf("meter")).toEqual([`${version1.slice(0, 6)} v1 approved`, `${whole.slice(0, 6)} v2 superseded`].sort());
    await pins.older.refresh();
    await pins.newer.refresh();
    expect([await pins.newer.allows("s", "tool", meter), await pins.older.allows("s", "tool", meter)]).toEqual([
      undefined,
      undefined,
    ]);
    // (These tasks load the first case's refused move too, and say so: this server has none.)
    expect(logged.filter((line) => line.includes('server "s"'))).toEqual([]);
  });

  it("tells the two apart within a millisecond (the table keeps microseconds)", async () => {
    const approvedAt = "2026-12-02 10:00:00.000500+00";
    const cases = [
      { server: "u1", rejectedAt: "2026-12-02 10:00:00.000400+00", expected: "moved" },
      { server: "u2", rejectedAt: "2026-12-02 10:00:00.000600+00", expected: "refused" },
    ];
    const dial = tool("dial");
    const { form, fingerprint: whole, version1 } = pinnedForm("tool", dial);
    for (const { server, rejectedAt } of cases)
      await pool.query(
        `INSERT INTO pinned_definitions (server, kind, name, fingerprint, definition, status, decided_at, decided_by,
           fingerprint_version)
         VALUES ($1, 'tool', 'dial', $2, $3, 'approved', $4, $6, 2), ($1, 'tool', 'dial', $5, $3, 'rejected', $7, $6, 1)`,
        [server, whole, JSON.stringify(form), approvedAt, version1, ADMIN, rejectedAt],
      );
    const rows = await createPinStore(pool).changedSince();
    for (const { server, expected } of cases) {
      const row = rows.find((known) => known.server === server && known.fingerprint === whole);
      if (!row) throw new Error(`no approved row on ${server}`);
      expect(await createPinStore(pool).keepForOlderReaders(row, version1), server).toBe(expected);
    }
  });
});
