import { AUDIT_QUEUES_QUERY, type AuditQueueIds, type AuditQueuesAccount, auditQueuesVariables } from "./queue-depth-query.ts";
import { OpsSourceError } from "./source.ts";

export const CLOUDFLARE_GRAPHQL_URL = "https://api.cloudflare.com/client/v4/graphql";

export interface GraphqlApi {
  url: string;
  apiToken: string;
}

/** The GraphQL answer's envelope: `data` and `errors` side by side, errors often with HTTP 200. */
interface GraphqlAnswer {
  data?: { viewer?: { accounts?: AuditQueuesAccount[] } } | null;
  errors?: { message?: string }[] | null;
}

const TIMEOUT_MS = 10_000;
const TOKEN_HINT = "OPS_ANALYTICS_API_TOKEN needs Account Analytics: Read on OPS_ANALYTICS_ACCOUNT_ID";

/** Asks the GraphQL API for both queues' backlog; throws an OpsSourceError that says what failed. */
export async function queryAuditQueues(api: GraphqlApi, ids: AuditQueueIds, end: number): Promise<AuditQueuesAccount> {
  let response: Response;
  try {
    response = await fetch(api.url, {
      method: "POST",
      headers: { authorization: `Bearer ${api.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ query: AUDIT_QUEUES_QUERY, variables: auditQueuesVariables(ids, end) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new OpsSourceError(`Cloudflare's GraphQL API could not be reached (${(error as Error).message})`);
  }
  const answer = (await response.json().catch(() => null)) as GraphqlAnswer | null;
  const reasons = (answer?.errors ?? []).map((error) => error.message).filter(Boolean);
  if (response.status === 401 || response.status === 403)
    throw new OpsSourceError(`Cloudflare's GraphQL API refused the token (${response.status}): ${TOKEN_HINT}`);
  // Its messages name what it refused in our own query; cut short so a verbose answer cannot swamp the page.
  if (reasons.length > 0)
    throw new OpsSourceError(`Cloudflare's GraphQL API answered: ${reasons.join("; ").slice(0, 300)} (${TOKEN_HINT})`);
  if (!response.ok) throw new OpsSourceError(`Cloudflare's GraphQL API answered ${response.status}`);
  const account = answer?.data?.viewer?.accounts?.[0];
  if (!account)
    throw new OpsSourceError(
      "Cloudflare's GraphQL API returned no account: check OPS_ANALYTICS_ACCOUNT_ID and that the token belongs to it",
    );
  return account;
}
