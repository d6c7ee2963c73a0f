import { execFile } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { generateCheckpointKey } from "../../aws/origin/audit/checkpoint/local/local-signer.ts";
import { purgeAuditEvents } from "../../aws/origin/audit/retention.ts";
import { verifyAudit } from "../../aws/origin/audit/verify/verify-audit.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { auditEvent, type ChainedStore, chainedRows, chainedStore, resetAudit, verifyAll } from "./audit-chain-fixture.ts";
import { type TestDatabase, usesEmbeddedDatabase, withTestDatabase } from "./database.ts";

const CLI = fileURLToPath(new URL("../../aws/origin/audit/cli.ts", import.meta.url));

/** `npm run audit -- verify …` in a child process (asynchronously: the embedded database answers from this process). */
function cliVerify(args: string[], databaseUrl: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, DATABASE_URL: databaseUrl };
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, "verify", ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe("audit verify: every kind of tampering is found and named", () => {
  let db: TestDatabase;
  let chained: ChainedStore;
  /** The one chain the fixture's 30 rows went to (one batch is one chain), in seq order. */
  let rows: { id: string; chain: number; seq: number }[];
  const row = (seq: number) => rows[seq - 1] as { id: string; chain: number; seq: number };

  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    await resetAudit(db.pool);
    chained = chainedStore(db.pool, 10);
    await chained.store.insert(Array.from({ length: 30 }, () => auditEvent()));
    await chained.checkpoints.stop(); // the checkpoint at seq 30 is stored
    rows = await chainedRows(db.pool);
  });

  it("finds nothing wrong in an untouched chain, with its checkpoint", async () => {
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const trusted = createPublicKey({ key: (await chained.signer.describe()).publicKey, format: "der", type: "spki" });
    expect(await verifyAll(db.pool, { trustedKeys: [trusted] })).toEqual({ problems: [], rows: 30, checkpoints: 1 });
  });

  it("names a row whose column was changed", async () => {
    await db.pool.query("UPDATE audit_events SET tool = 'delete_repo' WHERE id = $1", [row(12).id]);
    const { problems } = await verifyAll(db.pool);
    expect(problems).toEqual([
      expect.objectContaining({ kind: "content_hash", chain: row(12).chain, seq: 12, eventId: row(12).id }),
    ]);
  });

  it("names a row whose arguments were changed", async () => {
    await db.pool.query(`UPDATE audit_events SET arguments = '{"title":"nothing to see"}' WHERE id = $1`, [row(3).id]);
    const { problems } = await verifyAll(db.pool);
    expect(problems).toEqual([expect.objectContaining({ kind: "content_hash", seq: 3, eventId: row(3).id })]);
  });

  it("names the seq of a deleted row, and of rows deleted at the end", async () => {
    await db.pool.query("DELETE FROM audit_events WHERE id = ANY($1::uuid[])", [[row(7).id, row(29).id, row(30).id]]);
    const { problems } = await verifyAll(db.pool);
    expect(problems).toEqual([
      expect.objectContaining({ kind: "gap", seq: 8, eventId: row(8).id, message: expect.stringMatching(/^seq 7 is missing/) }),
      expect.objectContaining({ kind: "missing_tail", seq: 29, message: expect.stringMatching(/^seqs 29–30/) }),
      expect.objectContaining({ kind: "checkpoint_row_missing", seq: 30 }),
    ]);
  });

  it("names a forged row added outside the chain, and one added after its head", async () => {
    const copy = `INSERT INTO audit_events (id, time, kind, outcome, latency_ms, chain, seq, prev_hash, hash)
      SELECT $1, time, kind, outcome, latency_ms, $2, $3, prev_hash, hash FROM audit_events WHERE id = $4`;
    const outside = "00000000-0000-4000-8000-000000000001";
    const after = "00000000-0000-4000-8000-000000000002";
    await db.pool.query(copy, [outside, null, null, row(5).id]);
    await db.pool.query(copy, [after, row(5).chain, 31, row(30).id]);
    const { problems } = await verifyAll(db.pool);
    expect(problems).toEqual([
      expect.objectContaining({ kind: "beyond_head", seq: 31, eventId: after }),
      expect.objectContaining({ kind: "link", seq: 31, eventId: after }),
      expect.objectContaining({ kind: "content_hash", seq: 31, eventId: after }),
      expect.objectContaining({ kind: "outside_chain", eventId: outside }),
    ]);
  });

  it("walks a chain whose head was deleted, and names rows in another chain or at a seq no chain writes", async () => {
    await db.pool.query("UPDATE audit_events SET tool = 'delete_repo' WHERE id = $1", [row(12).id]);
    await db.pool.query("DELETE FROM audit_chains WHERE chain = $1", [row(12).chain]);
    const copy = `INSERT INTO audit_events (id, time, kind, outcome, latency_ms, chain, seq, prev_hash, hash)
      SELECT $1, time, kind, outcome, latency_ms, $2, $3, prev_hash, hash FROM audit_events WHERE id = $4`;
    const elsewhere = "00000000-0000-4000-8000-000000000003";
    const atZero = "00000000-0000-4000-8000-000000000004";
    await db.pool.query(copy, [elsewhere, 99, 1, row(1).id]);
    await db.pool.query(copy, [atZero, row(1).chain, 0, row(1).id]);
    const { problems } = await verifyAll(db.pool);
    expect(problems).toEqual([
      expect.objectContaining({ kind: "no_head", chain: row(12).chain }),
      expect.objectContaining({ kind: "content_hash", seq: 12, eventId: row(12).id }),
      expect.objectContaining({ kind: "no_head", chain: 99 }),
      expect.objectContaining({ kind: "content_hash", chain: 99, seq: 1, eventId: elsewhere }),
      expect.objectContaining({ kind: "invalid_seq", seq: 0, eventId: atZero }),
    ]);
  });

  // The embedded database has one connection: nothing is stored while verify holds it. A server takes both at once.
  it.skipIf(usesEmbeddedDatabase)(
    "reads one snapshot: events stored while it runs are not taken for rows added by hand (needs DATABASE_URL)",
    async () => {
      // Once verify has read its first page, two more events reach the chain (as from a live origin) before it reads on.
      const pool = Object.create(db.pool) as typeof db.pool;
      pool.connect = (async () => {
        const client = await db.pool.connect();
        const query = client.query.bind(client);
        let pages = 0;
        const storingAfterFirstPage = async (...args: Parameters<typeof query>) => {
          const result = await (query as (...a: unknown[]) => Promise<unknown>)(...args);
          if (String(args[0]).includes("ORDER BY seq LIMIT") && ++pages === 1)
            await chained.store.insert([auditEvent(), auditEvent()]);
          return result;
        };
        client.query = storingAfterFirstPage as typeof client.query;
        const release = client.release.bind(client);
        client.release = (error?: Error | boolean) => {
          client.query = query;
          release(error);
        };
        return client;
      }) as typeof pool.connect;
      const problems: unknown[] = [];
      const summary = await verifyAudit(pool, { pageSize: 10, report: (problem) => problems.push(problem) });
      expect((await chainedRows(db.pool)).length).toBe(32);
      expect(problems).toEqual([]);
      expect(summary.rows).toBe(30);
    },
  );

  it("names both rows of two whose places were swapped", async () => {
    await db.pool.query("UPDATE audit_events SET seq = -1 WHERE id = $1", [row(14).id]);
    await db.pool.query("UPDATE audit_events SET seq = 14 WHERE id = $1", [row(15).id]);
    await db.pool.query("UPDATE audit_events SET seq = 15 WHERE id = $1", [row(14).id]);
    const { problems } = await verifyAll(db.pool);
    expect(problems).toEqual([
      expect.objectContaining({ kind: "link", seq: 14, eventId: row(15).id }),
      expect.objectContaining({ kind: "content_hash", seq: 14, eventId: row(15).id }),
      expect.objectContaining({ kind: "link", seq: 15, eventId: row(14).id }),
      expect.objectContaining({ kind: "content_hash", seq: 15, eventId: row(14).id }),
      expect.objectContaining({ kind: "link", seq: 16, eventId: row(16).id }),
    ]);
  });

  it("names a checkpoint whose hash or signature was altered, and a rewritten chain its checkpoint contradicts", async () => {
    await db.pool.query("UPDATE audit_checkpoints SET hash = decode(repeat('ab', 32), 'hex')");
    const altered = await verifyAll(db.pool);
    expect(altered.problems).toEqual([
      expect.objectContaining({ kind: "checkpoint_signature", seq: 30 }),
      expect.objectContaining({ kind: "checkpoint_hash", seq: 30, eventId: row(30).id }),
    ]);
    await db.pool.query("UPDATE audit_checkpoints SET signature = decode('3006020101020101', 'hex')");
    expect((await verifyAll(db.pool)).problems[0]).toEqual(expect.objectContaining({ kind: "checkpoint_signature", seq: 30 }));
  });

  it("names checkpoints signed by a key other than the ones given", async () => {
    const stranger = createPublicKey(generateCheckpointKey());
    const { problems } = await verifyAll(db.pool, { trustedKeys: [stranger] });
    expect(problems).toEqual([expect.objectContaining({ kind: "untrusted_key", seq: 30 })]);
  });

  it("accepts the holes retention recorded, wherever old events sat in the chain, and no other", async () => {
    await resetAudit(db.pool);
    await db.pool.query("DELETE FROM audit_chains WHERE chain > 1"); // one chain, so the holes fall inside it
    const fresh = chainedStore(db.pool, 3); // heads 3, 7 and 11 signed: rows retention deletes
    const old = () => auditEvent({ time: new Date(Date.now() - 400 * 86_400_000).toISOString() });
    const recent = () => auditEvent({ time: new Date().toISOString() });
    // Late arrivals too: old events after newer ones, and at the chain's end.
    for (const batch of [
      [old(), old(), old()],
      [recent(), recent()],
      [old(), old()],
      [recent(), recent()],
      [old(), old()],
    ]) {
      await fresh.store.insert(batch);
    }
    await fresh.checkpoints.stop();
    const { deleted } = await purgeAuditEvents(db.pool, new Date(Date.now() - 365 * 86_400_000));
    expect(deleted).toBe(7);
    // The checkpoints that signed purged rows went with them (they vouch for nothing left); one of a kept row stays.
    expect(await verifyAll(db.pool)).toEqual({ problems: [], rows: 4, checkpoints: 0 });
    await fresh.store.insert([recent(), recent(), recent()]);
    await chainedStore(db.pool, 3).checkpoints.stop();
    await purgeAuditEvents(db.pool, new Date(Date.now() - 365 * 86_400_000));
    expect(await verifyAll(db.pool)).toEqual({ problems: [], rows: 7, checkpoints: 1 });

    // A row deleted by hand is still a gap.
    await db.pool.query("DELETE FROM audit_events WHERE seq = 4");
    const { problems } = await verifyAll(db.pool);
    expect(problems).toEqual([
      expect.objectContaining({ kind: "gap", seq: 5, message: expect.stringMatching(/^seqs 1–4 are missing/) }),
    ]);
  });

  it("npm run audit -- verify: exit 0 when whole, 3 naming each problem when not; keys from --public-key", async () => {
    const folder = await mkdtemp(join(tmpdir(), "audit-verify-"));
    try {
      const keyFile = join(folder, "checkpoints.pem");
      const { publicKey } = await chained.signer.describe();
      await writeFile(
        keyFile,
        createPublicKey({ key: publicKey, format: "der", type: "spki" }).export({ format: "pem", type: "spki" }),
      );
      const whole = await cliVerify(["--public-key", keyFile], db.url);
      expect(whole).toMatchObject({ code: 0, stdout: "verified 30 rows in 8 chains, 1 checkpoints: no tampering found\n" });

      await db.pool.query("UPDATE audit_events SET user_email = 'someone-else@example.com' WHERE id = $1", [row(2).id]);
      const tampered = await cliVerify([], db.url);
      expect(tampered.code).toBe(3);
      expect(tampered.stdout).toContain(`chain ${row(2).chain} seq 2 event ${row(2).id}: content_hash:`);
      expect(tampered.stdout).toMatch(/: 1 problems\n$/);
      expect(tampered.stderr).toMatch(/no --public-key given/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
