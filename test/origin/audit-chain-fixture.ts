import { randomUUID } from "node:crypto";
import type pg from "pg";
import { type Checkpointer, createCheckpointer } from "../../aws/origin/audit/checkpoint/checkpointer.ts";
import { generateCheckpointKey, localCheckpointSigner } from "../../aws/origin/audit/checkpoint/local/local-signer.ts";
import type { CheckpointSigner } from "../../aws/origin/audit/checkpoint/signer.ts";
import { type AuditStore, createAuditStore } from "../../aws/origin/audit/store.ts";
import type { VerifyProblem } from "../../aws/origin/audit/verify/problems.ts";
import { type VerifyOptions, verifyAudit } from "../../aws/origin/audit/verify/verify-audit.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";

let clock = Date.parse("2026-03-01T12:00:00.000Z");

/** A valid event, one second after the previous one, with every kind of column filled. */
export function auditEvent(fields: Partial<AuditEvent> = {}): AuditEvent {
  clock += 1000;
  return {
    id: randomUUID(),
    time: new Date(clock).toISOString(),
    kind: "mcp.request",
    userSub: "108234567890",
    userEmail: "ada@example.com",
    server: "github",
    method: "tools/call",
    tool: "create_issue",
    outcome: "ok",
    httpStatus: 200,
    latencyMs: 12.25,
    arguments: { title: "a bug", labels: ["bug", "p1"], body: { text: "ünïcödé \u2028", count: 3 } },
    ...fields,
  };
}

/**
 * Empties the audit tables and puts back the eight chains a fresh migration holds, each at its start (a test may
 * have deleted some: a later one writing to a random chain must find all eight).
 */
export async function resetAudit(pool: pg.Pool): Promise<void> {
  await pool.query("TRUNCATE audit_events, audit_checkpoints, audit_checkpoint_keys, audit_chain_purges, audit_chains");
  await pool.query("INSERT INTO audit_chains (chain) SELECT generate_series(1, 8)");
}

export interface ChainedStore {
  store: AuditStore;
  checkpoints: Checkpointer;
  signer: CheckpointSigner;
}

/** A store whose heads are signed every `everyRows` rows with a local key, as the origin wires them. */
export function chainedStore(pool: pg.Pool, everyRows = 10): ChainedStore {
  const signer = localCheckpointSigner(generateCheckpointKey());
  const checkpoints = createCheckpointer({ pool, signer, everyRows, everySeconds: 3600, log: () => {} });
  return { store: createAuditStore(pool, { onHead: checkpoints.noteHead }), checkpoints, signer };
}

/** Every problem verify reports, and its summary. */
export async function verifyAll(
  pool: pg.Pool,
  options: Omit<VerifyOptions, "report"> = {},
): Promise<{ problems: VerifyProblem[]; rows: number; checkpoints: number }> {
  const problems: VerifyProblem[] = [];
  const summary = await verifyAudit(pool, { ...options, report: (problem) => problems.push(problem) });
  return { problems, rows: summary.rows, checkpoints: summary.checkpoints };
}

/** The stored rows of the chains, in chain and seq order. */
export async function chainedRows(pool: pg.Pool): Promise<{ id: string; chain: number; seq: number }[]> {
  const { rows } = await pool.query(
    "SELECT id::text, chain, seq::int AS seq FROM audit_events WHERE chain IS NOT NULL ORDER BY chain, seq",
  );
  return rows;
}
