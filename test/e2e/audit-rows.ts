import pg from "pg";

export interface AuditRow {
  kind: string;
  user_email: string | null;
  user_sub: string | null;
  client_id: string | null;
  server: string | null;
  method: string | null;
  tool: string | null;
  outcome: string;
  latency_ms: number;
  protocol_version: string | null;
}

/** Waits (the queue delivers in batches) for the audit rows of one client matching `where`, straight from PostgreSQL. */
export async function waitForAuditRows(
  databaseUrl: string,
  clientId: string,
  until: (rows: AuditRow[]) => boolean,
  timeoutMs = 30_000,
): Promise<AuditRow[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<AuditRow>("select * from audit_events where client_id = $1 order by time", [clientId]);
      if (until(rows) || Date.now() > deadline) return rows;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await client.end();
  }
}
