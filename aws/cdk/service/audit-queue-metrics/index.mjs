// Reads the audit queues' backlog from Cloudflare's GraphQL Analytics API and prints it as CloudWatch metrics
// (embedded metric format: Lambda turns these log lines into metrics, no PutMetricData permission needed).
// Plain JavaScript because Lambda runs it as it is; the CDK stack schedules it every five minutes.
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

export const METRICS_NAMESPACE = "McpEdgeProxy/Audit";
const WINDOW_MS = 10 * 60_000;

const QUERY = `query AuditQueues($accountTag: string!, $audit: string!, $deadLetter: string!, $start: Time!, $end: Time!) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      audit: queueBacklogAdaptiveGroups(limit: 1, filter: { queueId: $audit, datetime_geq: $start, datetime_leq: $end }) { avg { messages } }
      deadLetter: queueBacklogAdaptiveGroups(limit: 1, filter: { queueId: $deadLetter, datetime_geq: $start, datetime_leq: $end }) { avg { messages } }
    }
  }
}`;

/**
 * @param {{ env?: Record<string, string | undefined>, fetch?: typeof fetch, readToken?: (secretId: string) => Promise<string>, log?: (line: string) => void, now?: () => number }} [deps]
 */
export function createHandler(deps = {}) {
  const env = deps.env ?? process.env;
  const doFetch = deps.fetch ?? fetch;
  const log = deps.log ?? console.log;
  const now = deps.now ?? Date.now;
  const readToken = deps.readToken ?? readSecret;
  return async () => {
    const token = (await readToken(required(env, "TOKEN_SECRET_ARN"))).trim();
    const end = now();
    const response = await doFetch(env.CLOUDFLARE_GRAPHQL_URL ?? "https://api.cloudflare.com/client/v4/graphql", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        query: QUERY,
        variables: {
          accountTag: required(env, "CLOUDFLARE_ACCOUNT_ID"),
          audit: required(env, "AUDIT_QUEUE_ID"),
          deadLetter: required(env, "DEAD_LETTER_QUEUE_ID"),
          start: new Date(end - WINDOW_MS).toISOString(),
          end: new Date(end).toISOString(),
        },
      }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || body.errors?.length) {
      const reason = body.errors?.map((error) => error.message).join("; ") || `HTTP ${response.status}`;
      throw new Error(`Cloudflare GraphQL refused the audit queue query: ${reason} (the token needs Account Analytics: Read)`);
    }
    const account = body.data?.viewer?.accounts?.[0];
    if (!account) throw new Error("Cloudflare GraphQL returned no account: check CLOUDFLARE_ACCOUNT_ID and the token's account");
    const metrics = { AuditQueueBacklog: backlog(account.audit), AuditDeadLetterBacklog: backlog(account.deadLetter) };
    log(
      JSON.stringify({
        _aws: {
          Timestamp: end,
          CloudWatchMetrics: [
            {
              Namespace: METRICS_NAMESPACE,
              Dimensions: [[]],
              Metrics: Object.keys(metrics).map((Name) => ({ Name, Unit: "Count" })),
            },
          ],
        },
        ...metrics,
      }),
    );
    return metrics;
  };
}

export const handler = createHandler();

/** No row means no messages in the window: an empty queue. */
function backlog(groups) {
  return Math.round(groups?.[0]?.avg?.messages ?? 0);
}

function required(env, name) {
  const value = env[name];
  if (!value)
    throw new Error(`${name} is not set (the CDK stack sets it from the cloudflare section of the deployment configuration)`);
  return value;
}

async function readSecret(secretId) {
  const answer = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretId }));
  if (!answer.SecretString) throw new Error(`secret ${secretId} has no text value: put the Cloudflare API token in it`);
  return answer.SecretString;
}
