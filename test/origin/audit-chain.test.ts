import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { canonicalContent, GENESIS_HASH, linkHash } from "../../aws/origin/audit/chain/link.ts";
import { createCheckpointer } from "../../aws/origin/audit/checkpoint/checkpointer.ts";
import { checkpointSignerFromConfig } from "../../aws/origin/audit/checkpoint/from-config.ts";
import { checkpointPayload } from "../../aws/origin/audit/checkpoint/payload.ts";
import { rowValues } from "../../aws/origin/audit/columns.ts";
import { jsonLine } from "../../aws/origin/audit/export.ts";
import { parseAuditFilter, searchAudit } from "../../aws/origin/audit/search.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { OriginConfig } from "../../contract/config/schema.ts";
import { auditEvent, chainedRows, chainedStore, resetAudit, verifyAll } from "./audit-chain-fixture.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

const checkpointConfig = (checkpoints: Record<string, unknown>) =>
  OriginConfig.parse({ publicUrl: "https://origin.example.com", edgeIssuer: "https://edge.example.com", audit: { checkpoints } })
    .audit.checkpoints;

describe("audit hash chain", () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    await resetAudit(db.pool);
  });

  it("stores each row with its seq, the previous row's hash and SHA-256 over its content and that hash", async () => {
    await createAuditStore(db.pool).insert([
      auditEvent(),
      auditEvent({ errorCode: 2 ** 40, tool: "nul\u0000inside" }),
      auditEvent(),
    ]);
    const { rows } = await db.pool.query("SELECT * FROM audit_events ORDER BY seq");
    expect(rows.map((row) => Number(row.seq))).toEqual([1, 2, 3]);
    expect(new Set(rows.map((row) => row.chain)).size).toBe(1);
    let previous = GENESIS_HASH;
    for (const row of rows) {
      expect(row.prev_hash).toEqual(previous);
      expect(row.hash).toEqual(linkHash(canonicalContent(rowValues(row), { chain: row.chain, seq: Number(row.seq) }), previous));
      previous = row.hash;
    }
    const { rows: heads } = await db.pool.query("SELECT seq::int AS seq, hash FROM audit_chains WHERE chain = $1", [
      rows[0].chain,
    ]);
    expect(heads).toEqual([{ seq: 3, hash: previous }]);
  });

  it("verifies rows whose text had lone surrogates (a client's tool name, a cut through an emoji): stored as hashed", async () => {
    await createAuditStore(db.pool).insert([
      auditEvent({ tool: "lone\ud800surrogate" }),
      auditEvent({ tool: `${"a".repeat(5)}\ud83d`, method: "\udc00tools/call" }),
    ]);
    expect((await verifyAll(db.pool)).problems).toEqual([]);
    const { rows } = await db.pool.query("SELECT tool FROM audit_events ORDER BY seq");
    expect(rows.map((row) => row.tool)).toEqual(["lone\ufffdsurrogate", "aaaaa\ufffd"]);
  });

  it("chains a redelivered event once: a repeated batch adds nothing, an overlapping one only its new events", async () => {
    const store = createAuditStore(db.pool);
    const batch = [auditEvent(), auditEvent(), auditEvent()];
    await store.insert(batch);
    expect(await store.insert(batch)).toEqual({ inserted: 0 });
    expect(await store.insert([batch[1] as (typeof batch)[number], auditEvent(), auditEvent()])).toEqual({ inserted: 2 });
    expect((await chainedRows(db.pool)).length).toBe(5);
    expect((await verifyAll(db.pool)).problems).toEqual([]);
  });

  it("never forks a chain while two origin instances write at once, the same events included", async () => {
    const first = createAuditStore(db.pool);
    const second = createAuditStore(db.createPool());
    const batches = Array.from({ length: 16 }, () => Array.from({ length: 50 }, () => auditEvent()));
    // Each instance gets every batch, in another order: as when the queue redelivers to the other instance.
    await Promise.all([
      (async () => {
        for (const batch of batches) await first.insert(batch);
      })(),
      (async () => {
        for (const batch of [...batches].reverse()) await second.insert(batch);
      })(),
    ]);
    const rows = await chainedRows(db.pool);
    expect(rows.length).toBe(800);
    expect(new Set(rows.map((row) => row.id)).size).toBe(800);
    expect((await verifyAll(db.pool)).problems).toEqual([]);
  });

  it("signs a chain's head every N rows, and the heads left unsigned when asked", async () => {
    // One chain, so that every batch extends it.
    await db.pool.query("DELETE FROM audit_chains WHERE chain > 1");
    const { store, checkpoints, signer } = chainedStore(db.pool, 10);
    for (let i = 0; i < 5; i++) await store.insert(Array.from({ length: 4 }, () => auditEvent()));
    await checkpoints.stop();
    const signedSeqs = async () => (await db.pool.query("SELECT seq::int AS seq FROM audit_checkpoints ORDER BY seq")).rows;
    // Heads 4, 8, 12, 16, 20: 12 is the first 10 rows past the start, 20 only 8 past 12.
    expect(await signedSeqs()).toEqual([{ seq: 12 }]);
    await checkpoints.signHeads();
    expect(await signedSeqs()).toEqual([{ seq: 12 }, { seq: 20 }]);

    const { publicKey, keyId } = await signer.describe();
    const key = createPublicKey({ key: publicKey, format: "der", type: "spki" });
    for (const row of (await db.pool.query("SELECT * FROM audit_checkpoints")).rows) {
      expect(row.key_id).toBe(keyId);
      const payload = checkpointPayload({ chain: row.chain, seq: Number(row.seq), hash: row.hash, time: row.time });
      expect(verify("sha256", payload, { key, dsaEncoding: "der" }, row.signature)).toBe(true);
    }
    expect((await verifyAll(db.pool)).problems).toEqual([]);
  });

  it("logs a failed signature and signs that head at the next attempt", async () => {
    const lines: string[] = [];
    let failing = true;
    const { signer } = chainedStore(db.pool);
    const flaky = {
      ...signer,
      sign: (payload: Buffer) => (failing ? Promise.reject(new Error("KMS unreachable")) : signer.sign(payload)),
    };
    const checkpoints = createCheckpointer({
      pool: db.pool,
      signer: flaky,
      everyRows: 1,
      everySeconds: 3600,
      log: (line) => lines.push(line),
    });
    await createAuditStore(db.pool, { onHead: checkpoints.noteHead }).insert([auditEvent()]);
    await checkpoints.stop();
    expect(lines).toEqual(["audit checkpoint failed (signed again later): KMS unreachable"]);
    failing = false;
    await checkpoints.signHeads();
    expect((await db.pool.query("SELECT seq::int AS seq FROM audit_checkpoints")).rows).toEqual([{ seq: 1 }]);
  });

  it("keeps the local signing key in its file (mode 0600) across starts, and refuses a key that is not P-256", async () => {
    const folder = await mkdtemp(join(tmpdir(), "audit-key-"));
    try {
      const localKeyFile = join(folder, "checkpoint-key.pem");
      const lines: string[] = [];
      const made = await checkpointSignerFromConfig(checkpointConfig({ localKeyFile }), (line) => lines.push(line));
      expect(lines).toEqual([`audit checkpoints: made a signing key in ${localKeyFile}`]);
      expect((await stat(localKeyFile)).mode & 0o777).toBe(0o600);
      const again = await checkpointSignerFromConfig(checkpointConfig({ localKeyFile }), () => {});
      expect((await again.describe()).keyId).toBe((await made.describe()).keyId);
      const fromText = await checkpointSignerFromConfig(
        checkpointConfig({ localKey: await readFile(localKeyFile, "utf8") }),
        () => {},
      );
      expect((await fromText.describe()).keyId).toBe((await made.describe()).keyId);
      const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
      await expect(
        checkpointSignerFromConfig(checkpointConfig({ localKey: rsa.export({ format: "pem", type: "pkcs8" }) }), () => {}),
      ).rejects.toThrow("the local audit checkpoint key must be an EC P-256 private key (PKCS#8 PEM or JWK)");
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("gives the stored arguments back in searches and NDJSON exports", async () => {
    const event = auditEvent({ arguments: { query: "open issues", limit: 5 } });
    await createAuditStore(db.pool).insert([event, auditEvent({ arguments: undefined })]);
    const parsed = parseAuditFilter({ tool: "create_issue" });
    if (!("filter" in parsed)) throw new Error("the filter should parse");
    const pages: AuditEvent[][] = [];
    for await (const page of searchAudit(db.pool, parsed.filter).pages) pages.push(page);
    const found = pages.flat();
    expect(found.map((row) => row.arguments)).toEqual([undefined, { limit: 5, query: "open issues" }]);
    expect(jsonLine(found[1] as AuditEvent)).toContain('"arguments":{"limit":5,"query":"open issues"}');
  });

  it('refuses signer "kms" without a key id, naming the key', () => {
    expect(() => checkpointConfig({ signer: "kms" })).toThrow(/kmsKeyId[\s\S]*expected the KMS key id, ARN or alias/);
  });
});
