import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { DefinitionPins, FULL_RELOAD_POLLS } from "../../aws/origin/pinning/definition-pins.ts";
import { pinnedForm } from "../../aws/origin/pinning/fingerprint.ts";
import { originPins } from "../../aws/origin/pinning/origin-pins.ts";
import { createPinStore, type PinnedDefinition, type PinStore } from "../../aws/origin/pinning/pin-store.ts";
import { type TestDatabase, usesEmbeddedDatabase, withTestDatabase } from "./database.ts";

// A row's updated_at is now(), its transaction's start: a decision that commits long after it began carries a time a
// poller may already have moved past. Running instances must still apply it (time hunt T6).
const tool = (name: string, description: string) => ({ name, description, inputSchema: { type: "object" } });
const A = tool("search", "v1");
const B = tool("search", "v2");
const fingerprint = (definition: Record<string, unknown>) => pinnedForm("tool", definition).fingerprint;

/** The table as polls see it: only rows "committed" so far, each with the time its transaction began. */
function tableOf() {
  const rows: PinnedDefinition[] = [];
  const row = (definition: Record<string, unknown>, status: PinnedDefinition["status"], updatedAt: Date): PinnedDefinition => ({
    server: "s",
    kind: "tool",
    name: String(definition.name),
    fingerprint: fingerprint(definition),
    fingerprintVersion: 2,
    definition,
    status,
    firstSeen: updatedAt,
    decidedAt: null,
    decidedBy: null,
    updatedAt,
  });
  const commit = (definition: Record<string, unknown>, status: PinnedDefinition["status"], updatedAt: Date) => {
    const at = rows.findIndex((known) => known.name === definition.name && known.fingerprint === fingerprint(definition));
    if (at >= 0) rows.splice(at, 1);
    rows.push(row(definition, status, updatedAt));
  };
  const store = {
    polledSince: async (since?: Date) =>
      rows.filter((known) => !since || known.updatedAt > since).sort((a, b) => +a.updatedAt - +b.updatedAt),
    record: async () => true,
  } as unknown as PinStore;
  return { store, commit };
}

describe("pin polling and decisions that commit late", () => {
  it("applies a decision committed after the watermark passed its time, by reading the whole table again", async () => {
    const { store, commit } = tableOf();
    const t0 = Date.parse("2026-12-02T10:00:00Z");
    commit(A, "approved", new Date(t0));
    commit(B, "pending", new Date(t0 + 1_000));
    const pins = new DefinitionPins({ store, modeOf: () => "trust-on-first-use", sighted: () => {}, log: () => {} });
    const told: string[] = [];
    pins.subscribe("s", () => told.push("s"));
    await pins.refresh();
    // Another row, written 30 s later, moves the watermark far past t0 + 2 s (overlap 10 s).
    commit(tool("other", "x"), "approved", new Date(t0 + 30_000));
    await pins.refresh();
    // The approval of B began at t0 + 2 s and commits now.
    commit(A, "superseded", new Date(t0 + 2_000));
    commit(B, "approved", new Date(t0 + 2_000));
    await pins.refresh();
    expect(await pins.allows("s", "tool", A)).toBeUndefined(); // the incremental poll cannot see it
    told.length = 0;
    for (let poll = 3; poll <= FULL_RELOAD_POLLS; poll++) await pins.refresh();
    expect(await pins.allows("s", "tool", B)).toBeUndefined();
    expect(await pins.allows("s", "tool", A)).toMatch(/changed since it was approved/);
    expect(told).toEqual(["s"]);
  });
});

// A real server: PGlite serves one connection at a time, so no transaction can stay open beside the poller's.
describe.skipIf(usesEmbeddedDatabase)("a slow decision on a PostgreSQL server (needs DATABASE_URL)", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await withTestDatabase();
    await migrate(database.pool);
  });
  afterAll(async () => database?.close());
  const servers = { s: { transport: "stdio", command: "x", pinning: "trust-on-first-use" } } as never;

  it("applies an approval whose transaction committed more than 10 s after it began", { timeout: 60_000 }, async () => {
    const pins = originPins(database.pool, { servers }, { insert: async () => {} }, () => {});
    await pins.refresh();
    expect(await pins.allows("s", "tool", A)).toBeUndefined(); // trusted on first sight
    expect(await pins.allows("s", "tool", B)).toMatch(/withheld/); // a change: pending
    await pins.refresh();
    // The decision's transaction holds for 11 s before it commits (the audit chains all held by ingest, say), while
    // another definition is first seen and this instance polls past the decision's updated_at.
    const client = await database.pool.connect();
    try {
      await client.query("BEGIN");
      const key = { server: "s", kind: "tool" as const, name: "search", fingerprint: fingerprint(B) };
      expect(await createPinStore(database.pool).approve(key, "admin@example.com", client)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      await pins.allows("s", "tool", tool("other", "x"));
      await pins.refresh();
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    await pins.refresh();
    expect(await pins.allows("s", "tool", A)).toBeUndefined(); // not yet: the watermark is past it
    for (let poll = 4; poll <= FULL_RELOAD_POLLS; poll++) await pins.refresh();
    expect(await pins.allows("s", "tool", B)).toBeUndefined();
    expect(await pins.allows("s", "tool", A)).toMatch(/changed since it was approved/);
  });
});
