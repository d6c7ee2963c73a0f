// What the stand-in for Cloudflare's GraphQL Analytics API (node/queue-graphql-setup.ts) takes and answers; a file
// apart so that the tests, which run in workerd, need not load the Node server.

/** The token the stand-in takes; the tests configure it as OPS_ANALYTICS_API_TOKEN. */
export const QUEUE_GRAPHQL_TOKEN = "test-queue-graphql-token-not-real";
/** The backlog it reports for every audit queue and every dead-letter queue. */
export const QUEUE_GRAPHQL_BACKLOG = { audit: 1234, deadLetter: 2 };
