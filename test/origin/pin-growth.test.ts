import type pg from "pg";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { unpinnedResourceMetrics } from "../../aws/origin/metrics/pins.ts";
import { DefinitionPins, MAX_LEARNING, type PinningMode } from "../../aws/origin/pinning/definition-pins.ts";
import { createPinStore, type PinStore, version1Of } from "../../aws/origin/pinning/pin-store.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

// Every resource an upstream ever listed is a row of pinned_definitions, and each origin instance reads the whole table
// once a minute and keeps what it read (s22 hunt G1): what it reads and keeps must not grow with the definitions.
const HOUR = 3_600_000;
let pool: pg.Pool;
const note = (index: number, description = `the first line of note ${index}`) => ({
  uri: `note://${index}`,
  name: `note ${index}`,
  description,
  size: 100 + index,
});
// icons: a field version 1 did not cover, so its first sight is approved through its fingerprint of version 1.
const search = {
  name: "search",
  description: "finds",
  inputSchema: { type: "object" },
  icons: [{ src: "https://i.example/s.png" }],
};

async function pinsOf(server: string) {
  const pins = new DefinitionPins({
    store: createPinStore(pool),
    modeOf: () => "trust-on-first-use",
    sighted: () => {},
    log: () => {},
  });
  await pins.start(HOUR);
  pins.stop();
  const notes = Array.from({ length: 50 }, (_, index) => note(index));
  expect(await pins.visible(server, "resource", notes)).toHaveLength(50);
  expect(await pins.allows(server, "tool", search)).toBeUndefined();
  expect(await pins.allows(server, "resource", note(0, "a new first line"))).toMatch(/changed since it was approved/);
  expect(await pins.allows(server, "tool", { ...search, description: "finds more" })).toMatch(/changed since/);
  return pins;
}

describe("what an origin instance reads and keeps of the pinned definitions", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await withTestDatabase();
    await migrate(database.pool);
    pool = database.pool;
  });
  afterAll(async () => database?.close());

  it("polls the rows without their definitions, but for those whose fingerprint of version 1 it may need", async () => {
    await pinsOf("read");
    const store = createPinStore(pool);
    const whole = (await store.changedSince()).filter((row) => row.server === "read");
    const polled = (await store.polledSince()).filter((row) => row.server === "read");
    const identity = (row: { kind: string; name: string; fingerprint: string; status: string }) =>
      `${row.kind} ${row.name} ${row.fingerprint} ${row.status}`;
    expect(polled.map(identity)).toEqual(whole.map(identity));
    // 50 notes and a changed one waiting; the tool's version 1 row, its whole form, and a change of it waiting.
    expect(whole).toHaveLength(54);
    // The origin looks for a fingerprint of version 1 in approved and superseded rows (definition-pins.ts): every one
    // it would find is read, and besides only the tool's version 1 row, stored whole (a field version 1 did not cover).
    const looked = (row: { status: string }) => row.status === "approved" || row.status === "superseded";
    for (const [index, row] of whole.entries())
      if (looked(row) && version1Of(row)) expect(polled[index]?.definition).toEqual(row.definition);
    expect(
      polled
        .filter((row) => row.definition !== null)
        .map((row) => `${row.name} v${row.fingerprintVersion}`)
        .sort(),
    ).toEqual(["search v1", "search v2"]);
    const recent = await store.polledSince(new Date(Date.now() - HOUR));
    expect(recent.filter((row) => row.server === "read" && row.definition !== null)).toHaveLength(2);
  });

  it("keeps in memory the approved fingerprint of each name, and only the sightings not approved besides", async () => {
    const pins = await pinsOf("kept");
    await pins.refresh(); // a whole read, as every minute
    const others = (await createPinStore(pool).changedSince()).filter((row) => row.server !== "kept");
    const approvedElsewhere = others.filter((row) => row.status === "approved").length;
    const sightingsElsewhere = others.length - approvedElsewhere;
    // 50 notes and the tool's version 1 row approved; the tool's whole form approved through it, and two changes waiting.
    expect(pins.remembered).toEqual({ approved: approvedElsewhere + 51, sightings: sightingsElsewhere + 3 });
    expect(await pins.allows("kept", "resource", note(1))).toBeUndefined();
    expect(await pins.allows("kept", "tool", search)).toBeUndefined();
    expect(await pins.allows("kept", "resource", note(0, "a new first line"))).toMatch(/changed since it was approved/);
  });

  /** An instance of the origin with a bound of `max` resources per server, loaded now. */
  async function bounded(mode: PinningMode, max: number) {
    const logged: string[] = [];
    const registry = new Registry();
    const pins = new DefinitionPins({
      store: createPinStore(pool),
      modeOf: () => mode,
      sighted: () => {},
      log: (line) => logged.push(line),
      maxResourcePins: max,
      unpinned: unpinnedResourceMetrics(registry, ["capped", "strict"]),
    });
    await pins.start(HOUR);
    pins.stop();
    const unpinned = async (server: string) =>
      (await registry.getSingleMetric("mcp_origin_unpinned_resources_total")?.get())?.values.find(
        (value) => value.labels.server === server,
      )?.value ?? 0;
    return { pins, logged, unpinned };
  }
  const rowsOf = async (server: string) =>
    (await createPinStore(pool).changedSince()).filter((row) => row.server === server).map((row) => `${row.name} ${row.status}`);

  it("pins at most a bound of resources per server: past it, a new one is served unpinned, logged once and counted", async () => {
    const { pins, logged, unpinned } = await bounded("trust-on-first-use", 5);
    const notes = Array.from({ length: 8 }, (_, index) => note(index));
    expect(await pins.visible("capped", "resource", notes)).toHaveLength(8);
    expect(await pins.visible("capped", "resource", notes)).toHaveLength(8);
    expect(await unpinned("capped")).toBe(6); // three past the bound, listed twice
    expect(logged).toEqual([
      'pinned definitions: server "capped" has 5 pinned resources or more, the most pinned per server: its new resources are served unpinned (a server of user data takes "pinResources": false; docs/pinning.md)',
    ]);
    // The first five listed are pinned, and a change of one is held; a change of one past the bound is not.
    expect((await rowsOf("capped")).sort()).toEqual([0, 1, 2, 3, 4].map((index) => `note://${index} approved`));
    expect(await pins.allows("capped", "resource", note(0, "changed"))).toMatch(/changed since it was approved/);
    expect(await pins.allows("capped", "resource", note(7, "changed"))).toBeUndefined();
    // Tools are not bounded.
    const tools = Array.from({ length: 8 }, (_, index) => ({ name: `t${index}`, inputSchema: { type: "object" } }));
    expect(await pins.visible("capped", "tool", tools)).toHaveLength(8);
    expect(await rowsOf("capped")).toHaveLength(14); // and the change of note 0, waiting
    // Another instance, loaded from the table, counts the same five.
    const other = await bounded("trust-on-first-use", 5);
    expect(await other.pins.visible("capped", "resource", [note(99)])).toHaveLength(1);
    expect(await rowsOf("capped")).toHaveLength(14);
    expect(await other.unpinned("capped")).toBe(1);
  });

  it("withholds a resource past the bound under require-approval: nothing could approve it", async () => {
    const { pins, unpinned } = await bounded("require-approval", 2);
    expect(await pins.allows("strict", "discovery", { capabilities: {} })).toMatch(/waits for an administrator/);
    const notes = Array.from({ length: 4 }, (_, index) => note(index));
    expect(await pins.visible("strict", "resource", notes)).toEqual([]);
    expect((await rowsOf("strict")).sort()).toEqual([" pending", "note://0 pending", "note://1 pending"]);
    const store = createPinStore(pool);
    for (const index of [0, 1]) {
      const fingerprint = (await store.changedSince()).find((row) => row.name === `note://${index}`)?.fingerprint ?? "";
      expect(
        await store.approve({ server: "strict", kind: "resource", name: `note://${index}`, fingerprint }, "a@example.com"),
      ).toBe(true);
    }
    await pins.refresh();
    expect((await pins.visible("strict", "resource", notes)).map((one) => one.uri)).toEqual(["note://0", "note://1"]);
    expect(await pins.allows("strict", "resource", note(3))).toMatch(
      /^the resource "note:\/\/3" of server "strict" is not pinned \(the server has the most pinned resources per server, 2\), .* withheld$/,
    );
    expect(await unpinned("strict")).toBe(5);
    expect(await rowsOf("strict")).toHaveLength(3);
  });
});

describe("a resource whose pin could not be written (s22 review R10)", () => {
  it("is not counted toward the bound: once the database is back, new resources are pinned again", async () => {
    let away = true;
    const recorded: string[] = [];
    const store = {
      polledSince: async () => [],
      record: async (pin: { name: string }) => {
        if (away) throw Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5432"), { code: "ECONNREFUSED" });
        recorded.push(pin.name);
        return true;
      },
    } as unknown as PinStore;
    const unpinned: string[] = [];
    const pins = new DefinitionPins({
      store,
      modeOf: () => "trust-on-first-use",
      sighted: () => {},
      log: () => {},
      maxResourcePins: 2,
      unpinned: (server) => unpinned.push(server),
    });
    await pins.start(HOUR);
    pins.stop();
    await expect(pins.visible("notes", "resource", [note(0), note(1)])).rejects.toThrow(/ECONNREFUSED/);
    away = false;
    // Two new notes fill the bound (pinned, written); only the third is past it.
    expect(await pins.visible("notes", "resource", [note(2), note(3), note(4)])).toHaveLength(3);
    expect(recorded).toEqual(["note://2", "note://3"]);
    expect(unpinned).toEqual(["notes"]);
  });
});

describe("a first listing of many new names", () => {
  it("learns at most MAX_LEARNING of them at once, not one database write per name at the same time", async () => {
    let writing = 0;
    let most = 0;
    const recorded: string[] = [];
    const store = {
      polledSince: async () => [],
      record: async (pin: { name: string }) => {
        most = Math.max(most, ++writing);
        await new Promise((resolve) => setTimeout(resolve, 1));
        writing--;
        recorded.push(pin.name);
        return true;
      },
    } as unknown as PinStore;
    const pins = new DefinitionPins({ store, modeOf: () => "trust-on-first-use", sighted: () => {}, log: () => {} });
    await pins.start(HOUR);
    pins.stop();
    const tools = Array.from({ length: 100 }, (_, index) => ({ name: `t${index}`, inputSchema: { type: "object" } }));
    expect(await pins.visible("many", "tool", tools)).toHaveLength(100);
    expect(most).toBe(MAX_LEARNING);
    expect(recorded).toHaveLength(100);
    // The same names again: decided from memory, nothing written.
    expect(await pins.visible("many", "tool", [...tools, ...tools])).toHaveLength(200);
    expect(recorded).toHaveLength(100);
  });

  /** A store whose every write takes `ms`, recording each name written. */
  const slowStore = (ms: number, recorded: string[] = []) =>
    ({
      polledSince: async () => [],
      record: async (pin: { name: string }) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        recorded.push(pin.name);
        return true;
      },
    }) as unknown as PinStore;

  it("takes turns between servers: one server's thousands of new names do not hold up another's one new tool", async () => {
    const recorded: string[] = [];
    const pins = new DefinitionPins({
      store: slowStore(5, recorded),
      modeOf: () => "trust-on-first-use",
      sighted: () => {},
      log: () => {},
    });
    await pins.start(HOUR);
    pins.stop();
    const templates = Array.from({ length: 2_000 }, (_, n) => ({ uriTemplate: `note://${n}/{x}`, name: `t${n}` }));
    const burst = pins.visible("notes", "resource_template", templates);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await pins.visible("github", "tool", [{ name: "create_issue", inputSchema: { type: "object" } }])).toHaveLength(1);
    // Written among the first few (the writes in flight, then its turn), not after the 2,000 queued before it.
    expect(recorded.indexOf("create_issue")).toBeLessThan(2 * MAX_LEARNING + 8);
    expect(await burst).toHaveLength(2_000);
  }, 60_000);
});
