import { OpsSourceError } from "../source.ts";

/** A row as the SQL API's JSON format writes it: 64-bit integers arrive as strings, so every number is read with Number(). */
export type SqlRow = Record<string, string | number | null>;

export interface SqlApi {
  url: string;
  apiToken: string;
}

/** Cloudflare's SQL API of Workers Analytics Engine for an account. */
export const cloudflareSqlUrl = (accountId: string): string =>
  `https://api.cloudflare.com/client/v4/accounts/${accountId}/analytics_engine/sql`;

const TIMEOUT_MS = 10_000;

/** Runs one query (SQL text in, `{ meta, data, rows }` out) and returns its rows. */
export async function runSql(api: SqlApi, sql: string): Promise<SqlRow[]> {
  let response: Response;
  try {
    response = await fetch(api.url, {
      method: "POST",
      headers: { authorization: `Bearer ${api.apiToken}`, "content-type": "text/plain" },
      body: sql,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new OpsSourceError(`Analytics Engine's SQL API could not be reached (${(error as Error).message})`);
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    throw new OpsSourceError(
      `Analytics Engine's SQL API refused the token (${response.status}): OPS_ANALYTICS_API_TOKEN needs Account Analytics: Read on OPS_ANALYTICS_ACCOUNT_ID`,
    );
  }
  if (!response.ok) {
    // Its error text names the SQL problem; it holds no data, only our own query's fault.
    const reason = (await response.text()).slice(0, 300);
    throw new OpsSourceError(`Analytics Engine's SQL API answered ${response.status}: ${reason}`);
  }
  const body = (await response.json().catch(() => null)) as { data?: unknown } | null;
  if (!body || !Array.isArray(body.data)) throw new OpsSourceError("Analytics Engine's SQL API answered without a data array");
  return body.data as SqlRow[];
}
