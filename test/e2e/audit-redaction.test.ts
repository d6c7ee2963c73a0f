import { randomBytes, randomUUID } from "node:crypto";
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VerifyProblem } from "../../aws/origin/audit/verify/problems.ts";
import { verifyAudit } from "../../aws/origin/audit/verify/verify-audit.ts";
import { createPool } from "../../aws/origin/db/pool.ts";
import { REDACTED } from "../../contract/audit-redaction.ts";
import { waitForAuditRows } from "./audit-rows.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  system = await startTestSystem();
});
afterAll(async () => {
  await system?.close();
});

// Made for this run, shaped like what the defaults must catch: a password and an AWS access key id.
const password = `pw-${randomUUID()}`;
const awsKeyId = `AKIA${randomBytes(8).toString("hex").toUpperCase()}`;

/** Every text-like column of every table, with how many rows contain `needle` anywhere in it. */
async function occurrences(databaseUrl: string, needle: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: columns } = await client.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea', 'ARRAY')`,
    );
    expect(columns.map((column) => `${column.table_name}.${column.column_name}`)).toContain("audit_events.arguments");
    const found: string[] = [];
    for (const { table_name: table, column_name: column } of columns) {
      const { rows } = await client.query(
        `SELECT count(*)::int AS n FROM "${table}" WHERE position($1 IN "${column}"::text) > 0 OR position($2 IN "${column}"::text) > 0`,
        [needle, Buffer.from(needle).toString("hex")],
      );
      if (rows[0].n > 0) found.push(`${table}.${column}`);
    }
    return found;
  } finally {
    await client.end();
  }
}

describe("audit arguments through the real proxy: redacted at the edge, chained at the origin", () => {
  let clientId: string;

  it("stores a tool call's arguments with the password and the AWS key id redacted, and neither anywhere in the database", async () => {
    const url = new URL(`${system.edgeUrl}/mcp/everything`);
    const provider = new InMemoryOAuthProvider();
    const client = new Client({ name: "e2e-redaction", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await expect(client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }))).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    await new StreamableHTTPClientTransport(url, { authProvider: provider }).finishAuth(await provider.signInHeadlessly());
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    // The echo tool takes only `message`; the edge audits what the client sent, whatever the tool accepts.
    await client.callTool({ name: "echo", arguments: { message: `deploy with ${awsKeyId} now`, password } });
    await client.close();
    clientId = (provider.clientInformation() as { client_id: string }).client_id;

    await waitForAuditRows(system.databaseUrl, { clientId }, (rows) => rows.some((row) => row.tool === "echo"));
    const db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
    const { rows } = await db.query("SELECT arguments FROM audit_events WHERE client_id = $1 AND tool = 'echo'", [clientId]);
    await db.end();
    expect(rows.map((row) => JSON.parse(row.arguments))).toEqual([
      { message: `deploy with ${REDACTED} now`, password: REDACTED },
    ]);
    expect(await occurrences(system.databaseUrl, password)).toEqual([]);
    expect(await occurrences(system.databaseUrl, awsKeyId)).toEqual([]);
  });

  it("verify finds the stored chain whole, then names the row altered directly in PostgreSQL", async () => {
    const pool = createPool(system.databaseUrl, { max: 1 });
    try {
      const problems: VerifyProblem[] = [];
      const report = (problem: VerifyProblem) => problems.push(problem);
      const whole = await verifyAudit(pool, { report });
      expect(problems).toEqual([]);
      expect(whole.rows).toBeGreaterThan(0);

      const { rows } = await pool.query(
        "SELECT id::text, seq::int AS seq FROM audit_events WHERE client_id = $1 AND tool = 'echo'",
        [clientId],
      );
      await pool.query("UPDATE audit_events SET outcome = 'denied' WHERE id = $1", [rows[0].id]);
      await verifyAudit(pool, { report });
      expect(problems).toEqual([expect.objectContaining({ kind: "content_hash", seq: rows[0].seq, eventId: rows[0].id })]);
    } finally {
      await pool.end();
    }
  });
});
