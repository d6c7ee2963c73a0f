import { createServer } from "node:http";
import type { TestProject } from "vitest/node";
import { QUEUE_GRAPHQL_BACKLOG, QUEUE_GRAPHQL_TOKEN } from "../ops-queue-depth-stand-in.ts";

// A stand-in for Cloudflare's GraphQL Analytics API, for the dashboard's audit queue panel in workerd: it takes
// `{ query, variables }` POSTed with the bearer token below and answers each queue's average backlog as the real
// API does (`data.viewer.accounts[0].<alias>[0].avg.messages`), or, for another token, a GraphQL error with HTTP 200.
// Any path answers, so each test takes its own URL and its own cache entry in the edge's isolate.

export default async function setup(project: TestProject) {
  const server = createServer(async (request, response) => {
    let text = "";
    for await (const chunk of request) text += chunk;
    // Under /sql/, Analytics Engine's SQL API for the panel's count of events not queued: none.
    if (request.url?.startsWith("/sql/")) {
      response.writeHead(200, { "content-type": "application/json" });
      return response.end(JSON.stringify({ meta: [], data: [{ events: "0" }], rows: 1 }));
    }
    const body = JSON.parse(text || "{}") as { query?: string };
    const answer =
      request.headers.authorization !== `Bearer ${QUEUE_GRAPHQL_TOKEN}`
        ? { data: null, errors: [{ message: "not authorized for that account", path: ["viewer", "accounts"] }] }
        : !body.query?.includes("queueBacklogAdaptiveGroups")
          ? { data: null, errors: [{ message: "unexpected query" }] }
          : {
              data: {
                viewer: {
                  accounts: [
                    {
                      audit: [{ avg: { messages: QUEUE_GRAPHQL_BACKLOG.audit } }],
                      deadLetter: [{ avg: { messages: QUEUE_GRAPHQL_BACKLOG.deadLetter } }],
                    },
                  ],
                },
              },
              errors: null,
            };
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("queueGraphqlUrl", `http://127.0.0.1:${(server.address() as { port: number }).port}/client/v4/graphql`);
  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}
