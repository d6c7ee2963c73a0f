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

export interface AuditFilter {
  clientId?: string;
  kind?: string;
  since?: Date;
}

/** Waits (the queue delivers in batches) until the audit rows matching `filter` satisfy `until`; reads PostgreSQL directly. */
export async function waitForAuditRows(
  databaseUrl: string,
  filter: AuditFilter,
  until: (rows: AuditRow[]) => boolean,
  timeoutMs = 30_000,
): Promise<AuditRow[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<AuditRow>(
        `select * from audit_events
          where ($1::text is null or client_id = $1) and ($2::text is null or kind = $2) and ($3::timestamptz is null or time >= $3)
          order by time`,
        [filter.clientId ?? null, filter.kind ?? null, filter.since ?? null],
      );
      if (until(rows) || Date.now() > deadline) return rows;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await client.end();
  }
}
