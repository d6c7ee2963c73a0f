import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createPool } from "../../aws/origin/db/pool.ts";
import { ensureAppRole } from "../../aws/origin/db/roles.ts";
import { DefinitionPins, type PinningMode } from "../../aws/origin/pinning/definition-pins.ts";
import { pinnedForm } from "../../aws/origin/pinning/fingerprint.ts";
import { waitingChanges } from "../../aws/origin/pinning/pin-decision.ts";
import { createPinStore } from "../../aws/origin/pinning/pin-store.ts";
import { type TestDatabase, usesEmbeddedDatabase, withTestDatabase } from "./database.ts";
import { DefinitionPins as OlderPins, createPinStore as olderPinStore } from "./pin-release-before.ts";

// A rolling deploy across fingerprint version 2 (and a rollback across it): tasks of the release before (which
// fingerprint only the fields of version 1) run beside this release's on one table. Both must agree on what is
// approved: an older task must not take what this release writes for a change of its own definition, and this release
// must not take what an older task (or its CLI) writes for one either (rollout hunt F1).
const HOUR = 3_600_000;
const PASSWORD = "app-role-password-pin-rollout-0123";
const events: string[] = [];
/** The pool both releases' tasks use: the test's own, or one as the origin's role (column-limited updates). */
let pool: pg.Pool;
const store = () => createPinStore(pool);
const rowsOf = async (server: string, name: string) =>
  (await store().changedSince())
    .filter((row) => row.server === server && row.name === name)
    .map((row) => `${row.fingerprint.slice(0, 6)} v${row.fingerprintVersion} ${row.status}`)
    .sort();
const short = (definition: Record<string, unknown>) => {
  const { fingerprint, version1 } = pinnedForm("tool", definition);
  return { whole: fingerprint.slice(0, 6), version1: version1.slice(0, 6) };
};

/** A task of each release, started (loaded) now. */
async function tasks(mode: PinningMode = "trust-on-first-use") {
  const modeOf = () => mode;
  const newer = new DefinitionPins({
    store: store(),
    modeOf,
    log: () => {},
    sighted: (event, pin) => void events.push(`new ${event} ${pin.name}`),
  });
  const older = new OlderPins({
    store: olderPinStore(pool),
    modeOf,
    log: () => {},
    sighted: (event, pin) => void events.push(`old ${event} ${pin.name}`),
  });
  await older.start(HOUR);
  await newer.start(HOUR);
  older.stop();
  newer.stop();
  return { newer, older };
}
const both = async (pins: { newer: DefinitionPins; older: OlderPins }, server: string, definition: Record<string, unknown>) => {
  await pins.older.refresh();
  await pins.newer.refresh();
  return [await pins.newer.allows(server, "tool", definition), await pins.older.allows(server, "tool", definition)];
};
const tool = (name: string, extra: Record<string, unknown>) => ({
  name,
  description: `${name}s`,
  inputSchema: { type: "object" },
  ...extra,
});
const ICONS = { icons: [{ src: "https://good.example/i.png" }] };

describe("pinned definitions across a rolling deploy of fingerprint version 2", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await withTestDatabase();
    await migrate(database.pool);
    pool = database.pool;
  });
  afterAll(async () => database?.close());
  scenarios();
});

// What this release writes for older tasks must be allowed to the origin's role, which may update only a row's status
// and decision (db/roles.ts): a real server, where the role exists.
describe.skipIf(usesEmbeddedDatabase)("the same, as the origin's database role (needs DATABASE_URL)", () => {
  const suffix = randomBytes(4).toString("hex");
  const [owner, app] = [`mcp_owner_${suffix}`, `mcp_app_${suffix}`];
  let database: TestDatabase;
  let ownerPool: pg.Pool;
  const urlAs = (user: string) => {
    const url = new URL(database.url);
    url.username = user;
    url.password = PASSWORD;
    return url.toString();
  };
  beforeAll(async () => {
    database = await withTestDatabase();
    await database.pool.query(`CREATE ROLE ${owner} LOGIN CREATEROLE PASSWORD '${PASSWORD}'`);
    await database.pool.query(`ALTER DATABASE ${new URL(database.url).pathname.slice(1)} OWNER TO ${owner}`);
    await database.pool.query(`ALTER SCHEMA public OWNER TO ${owner}`);
    ownerPool = createPool(urlAs(owner), { max: 2 });
    await migrate(ownerPool);
    await ensureAppRole(ownerPool, { role: app, password: PASSWORD, minPurgeAgeDays: 30 });
    pool = createPool(urlAs(app), { max: 4 });
  });
  afterAll(async () => {
    await Promise.all([ownerPool?.end(), pool?.end()]);
    await database?.close();
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    await client.query(`DROP ROLE IF EXISTS ${app}`).finally(() => client.query(`DROP ROLE IF EXISTS ${owner}`));
    await client.end();
  });
  scenarios();
});

function scenarios() {
  it("keeps an approval of the release before in force on its tasks once this release carried it over", async () => {
    const search = tool("search", ICONS);
    const before = (await tasks()).older;
    expect(await before.allows("a", "tool", search)).toBeUndefined(); // trusted on first sight, version 1
    events.length = 0;
    const pins = await tasks();
    expect(await pins.newer.allows("a", "tool", search)).toBeUndefined(); // carried over
    expect(await both(pins, "a", search)).toEqual([undefined, undefined]);
    const { whole, version1 } = short(search);
    expect(await rowsOf("a", "search")).toEqual([`${version1} v1 approved`, `${whole} v2 superseded`].sort());
    expect(events).toEqual(["new first_seen search"]);
    // Later polls (and a full read) change nothing, on either.
    expect(await both(pins, "a", search)).toEqual([undefined, undefined]);
    expect((await store().changedSince()).filter((row) => row.status === "pending")).toEqual([]);
  });

  it("approves a definition first seen by this release under the fingerprint older tasks check", async () => {
    const fresh = tool("fresh", { execution: { taskSupport: "optional" } });
    events.length = 0;
    const pins = await tasks();
    expect(await pins.newer.allows("b", "tool", fresh)).toBeUndefined();
    // An older task polls and lists before this one polls again.
    await pins.older.refresh();
    expect(await pins.older.allows("b", "tool", fresh)).toBeUndefined();
    expect(await both(pins, "b", fresh)).toEqual([undefined, undefined]);
    expect(events).toEqual(["new first_seen fresh"]);
    expect((await store().changedSince()).filter((row) => row.status === "pending")).toEqual([]);
    // Its icons are pinned by this release all the same: a change of them waits there (older tasks cannot see it).
    const tracked = { ...fresh, icons: [{ src: "https://evil.example/t.png" }] };
    const [newer] = await both(pins, "b", tracked);
    expect(newer).toContain("changed since it was approved");
  });

  it("agrees after an administrator approves a change of icons, or of a field older tasks pin, with this release", async () => {
    const chart = tool("chart", ICONS);
    const pins = await tasks();
    expect(await pins.newer.allows("c", "tool", chart)).toBeUndefined();
    const reicon = { ...chart, icons: [{ src: "https://good.example/j.png" }] };
    expect(await pins.newer.allows("c", "tool", reicon)).toContain("changed since it was approved");
    expect(
      await store().approve(
        { server: "c", kind: "tool", name: "chart", fingerprint: pinnedForm("tool", reicon).fingerprint },
        "admin@example.com",
      ),
    ).toBe(true);
    expect(await both(pins, "c", reicon)).toEqual([undefined, undefined]);
    // The icons approved before are a change again on this release (an upstream going back waits anew).
    const [back] = await both(pins, "c", chart);
    expect(back).toContain("changed since it was approved");
    // Reviewed (CLI, /ops) beside the icons approved now, not beside the row older tasks check.
    const shown = waitingChanges(await store().changedSince()).filter(({ change }) => change.server === "c");
    expect(shown.map(({ approved }) => approved?.fingerprint)).toEqual([pinnedForm("tool", reicon).fingerprint]);
    // A new description: both hold it; approved with this release, both show it and hold the one before.
    const redescribed = { ...reicon, description: "Charts, better." };
    const [newHeld, oldHeld] = await both(pins, "c", redescribed);
    expect([newHeld, oldHeld].every((said) => said?.includes("changed since it was approved"))).toBe(true);
    expect(
      await store().approve(
        { server: "c", kind: "tool", name: "chart", fingerprint: pinnedForm("tool", redescribed).fingerprint },
        "admin@example.com",
      ),
    ).toBe(true);
    expect(await both(pins, "c", redescribed)).toEqual([undefined, undefined]);
    const [, oldOnBefore] = await both(pins, "c", reicon);
    expect(oldOnBefore).toContain("changed since it was approved");
    // The older task's own record of the new description (its version 1 row) was approved with it: what waits is the
    // upstream going back, on each release (this test's own last look), and the icons before.
    const waiting = (await store().changedSince()).filter((row) => row.server === "c" && row.status === "pending");
    const { version1: redescribedVersion1 } = pinnedForm("tool", redescribed);
    expect(waiting.map((row) => row.fingerprint)).not.toContain(redescribedVersion1);
    expect(waiting.map((row) => row.fingerprint).sort()).toEqual(
      [pinnedForm("tool", chart).fingerprint, pinnedForm("tool", reicon).fingerprint, pinnedForm("tool", reicon).version1].sort(),
    );
  });

  it("carries over again what an older task's CLI approved by its fingerprint of version 1: no ping-pong", async () => {
    const map = tool("map", ICONS);
    const pins = await tasks();
    expect(await pins.newer.allows("d", "tool", map)).toBeUndefined();
    const renamed = { ...map, description: "Maps, renamed." };
    // Both record the change, each under its own fingerprint; the administrator approves the older task's row.
    await both(pins, "d", renamed);
    const older = (await store().changedSince()).find(
      (row) => row.server === "d" && row.status === "pending" && row.fingerprintVersion === 1,
    );
    expect(older?.fingerprint).toBe(pinnedForm("tool", renamed).version1);
    await olderPinStore(pool).approve(
      { server: "d", kind: "tool", name: "map", fingerprint: older?.fingerprint ?? "" },
      "admin@example.com",
    );
    events.length = 0;
    expect(await both(pins, "d", renamed)).toEqual([undefined, undefined]);
    expect(events).toEqual(["new first_seen map"]);
    expect(await both(pins, "d", renamed)).toEqual([undefined, undefined]);
    expect((await store().changedSince()).filter((row) => row.server === "d" && row.status === "pending")).toEqual([]);
  });

  it("moves an approval made by an older task's CLI of a whole form, or by the release before this one, where older tasks find it", async () => {
    const pins = await tasks("require-approval");
    const gauge = tool("gauge", ICONS);
    const [newHeld, oldHeld] = await both(pins, "e", gauge);
    expect(newHeld).toContain("waits for an administrator's approval");
    expect(oldHeld).toContain("waits for an administrator's approval");
    // The older release's approve, on this release's row (as the release before this fix also left its approvals).
    const whole = pinnedForm("tool", gauge).fingerprint;
    await olderPinStore(pool).approve({ server: "e", kind: "tool", name: "gauge", fingerprint: whole }, "admin@example.com");
    await pins.newer.refresh(); // sees it approved, and moves it
    expect(await both(pins, "e", gauge)).toEqual([undefined, undefined]);
    const { version1 } = short(gauge);
    expect(await rowsOf("e", "gauge")).toEqual([`${version1} v1 approved`, `${whole.slice(0, 6)} v2 superseded`].sort());
  });
}
