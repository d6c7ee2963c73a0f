import type pg from "pg";

/** The approved tool definitions' annotations, per server and tool name (docs/pinning.md). */
export type ApprovedTools = ReadonlyMap<string, ReadonlyMap<string, Record<string, unknown> | undefined>>;

const APPROVED_TOOLS = `SELECT server, name, definition->'annotations' AS annotations
FROM pinned_definitions WHERE kind = 'tool' AND status = 'approved'`;

interface Row {
  server: string;
  name: string;
  annotations: unknown;
}

/** Audit events name tools but carry no annotations; the approved definitions do. */
export async function readApprovedTools(pool: pg.Pool): Promise<ApprovedTools> {
  const { rows } = await pool.query<Row>(APPROVED_TOOLS);
  const byServer = new Map<string, Map<string, Record<string, unknown> | undefined>>();
  for (const row of rows) {
    const tools = byServer.get(row.server) ?? new Map();
    const annotations = typeof row.annotations === "object" && row.annotations !== null ? row.annotations : undefined;
    tools.set(row.name, annotations as Record<string, unknown> | undefined);
    byServer.set(row.server, tools);
  }
  return byServer;
}
