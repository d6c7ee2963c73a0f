import type pg from "pg";

/** Calls of one tool by one user, as the audit trail recorded them. */
export interface RecordedCalls {
  /** The user's e-mail, which the policy reads; absent on events that carry only a subject. */
  userEmail?: string;
  userSub?: string;
  server: string;
  /**
   * The tool name the row holds: the upstream's own, or (rows written before the edge resolved it) the aggregated
   * endpoint's public `<server>__<name>`.
   */
  tool: string;
  calls: number;
}

const DAY_MS = 86_400_000;

// One statement per day of the window: a large table is read in steps that each report progress, and each step's
// answer is already grouped by user and tool, so its size depends on how many users and tools, not on how many calls.
// The tool column also holds a prompt's name (prompts/get) or a resource's URI (resources/read): only tools/call rows
// are tool calls. A 2026-07-28 round that only asked the user (input_required) is followed by the call's own row, so
// counting it would count an approved call twice.
const CALLS_OF_ONE_DAY = `SELECT user_email AS "userEmail", user_sub AS "userSub", server, tool,
  sum(coalesce(count, 1))::bigint AS calls
FROM audit_events
WHERE kind = 'mcp.request' AND method = 'tools/call' AND outcome <> 'input_required'
  AND server IS NOT NULL AND tool IS NOT NULL AND time >= $1 AND time < $2
GROUP BY user_email, user_sub, server, tool`;

interface Row {
  userEmail: string | null;
  userSub: string | null;
  server: string;
  tool: string;
  calls: string;
}

/** The tools/call events with a server and a tool from `from` to `to`, counted per user, server and tool. */
export async function readRecordedCalls(
  pool: pg.Pool,
  window: { from: Date; to: Date },
  progress: (message: string) => void,
): Promise<RecordedCalls[]> {
  const counted = new Map<string, RecordedCalls>();
  let calls = 0;
  const days = Math.ceil((window.to.getTime() - window.from.getTime()) / DAY_MS);
  for (let day = 0; day < days; day++) {
    const start = new Date(window.from.getTime() + day * DAY_MS);
    const end = new Date(Math.min(start.getTime() + DAY_MS, window.to.getTime()));
    const { rows } = await pool.query<Row>(CALLS_OF_ONE_DAY, [start, end]);
    for (const row of rows) {
      const key = JSON.stringify([row.userEmail, row.userSub, row.server, row.tool]);
      const entry = counted.get(key) ?? withoutNulls(row);
      entry.calls += Number(row.calls);
      counted.set(key, entry);
      calls += Number(row.calls);
    }
    progress(`read day ${day + 1} of ${days}: ${calls} calls so far`);
  }
  return [...counted.values()];
}

function withoutNulls(row: Row): RecordedCalls {
  return {
    ...(row.userEmail === null ? {} : { userEmail: row.userEmail }),
    ...(row.userSub === null ? {} : { userSub: row.userSub }),
    server: row.server,
    tool: row.tool,
    calls: 0,
  };
}
