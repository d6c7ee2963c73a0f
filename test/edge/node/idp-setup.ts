import { createServer as createHttpServer } from "node:http";
import { createServer, type Socket } from "node:net";
import type { TestProject } from "vitest/node";
import { SESSION_AUDITS_HEADER } from "../../../contract/answer-outcome.ts";
import { startIdp } from "../../../local/idp/start-idp.ts";

/** The edge's authorization tests sign in against the real local OpenID provider, started once for them. */
export default async function setup(project: TestProject) {
  const idp = await startIdp({
    port: 0,
    clients: [
      { clientId: "edge-test-client", clientSecret: "test-secret-not-real", redirectUris: ["http://localhost:8787/callback"] },
    ],
  });
  project.provide("idpIssuer", idp.issuer);
  // A server that accepts connections and never answers: an origin or identity provider that hangs.
  const held: Socket[] = [];
  const silent = createServer((socket) => void held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  project.provide("silentUrl", `http://127.0.0.1:${(silent.address() as { port: number }).port}`);
  // An origin that begins its answer at once and finishes it after SLOW_ANSWER_MS: a long streamed call. Under a path
  // beginning /endless it never finishes: a call in flight for as long as the test needs, whatever the machine's pace.
  const slow = createHttpServer((request, response) => {
    response.writeHead(200, { "content-type": "text/event-stream", "mcp-origin-instance": "slow" });
    response.write(
      `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1 } })}\n\n`,
    );
    if (request.url?.startsWith("/endless")) return;
    setTimeout(
      () => response.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: 1, result: { tools: [] } })}\n\n`),
      1500,
    );
  });
  await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
  project.provide("slowStreamUrl", `http://127.0.0.1:${(slow.address() as { port: number }).port}`);
  // An origin that claims, with the session objects' header, that it audits the request itself (it never may).
  const claiming = createHttpServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json", [SESSION_AUDITS_HEADER]: "1" });
    response.end(JSON.stringify({ jsonrpc: "2.0", id: 1, result: { tools: [] } }));
  });
  await new Promise<void>((resolve) => claiming.listen(0, "127.0.0.1", resolve));
  project.provide("auditClaimingUrl", `http://127.0.0.1:${(claiming.address() as { port: number }).port}`);
  // An origin that never answers a POST and counts the POSTs whose connection the caller closed (GET /closed).
  let closedPosts = 0;
  const holding = createHttpServer((request, response) => {
    if (request.method === "GET") return void response.end(String(closedPosts));
    response.on("close", () => {
      if (!response.writableEnded) closedPosts++;
    });
  });
  await new Promise<void>((resolve) => holding.listen(0, "127.0.0.1", resolve));
  // An origin that takes every audit ingest and tells how many events each POST carried (GET /posts); like an origin
  // older than the edge, it refuses events of a kind it does not know, "future.kind", and stores the others (422).
  const ingested: number[] = [];
  const ingest = createHttpServer((request, response) => {
    if (request.method === "GET") return void response.end(JSON.stringify(ingested));
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      const { events } = JSON.parse(body) as { events: { kind: string }[] };
      ingested.push(events.length);
      const refused = events.flatMap((event, index) =>
        event.kind === "future.kind" ? [{ index, problems: ["kind: Invalid option"] }] : [],
      );
      response.setHeader("content-type", "application/json");
      if (refused.length === 0) return void response.end("{}");
      response.statusCode = 422;
      response.end(JSON.stringify({ error: "invalid_audit_events", inserted: events.length - refused.length, refused }));
    });
  });
  await new Promise<void>((resolve) => ingest.listen(0, "127.0.0.1", resolve));
  project.provide("ingestUrl", `http://127.0.0.1:${(ingest.address() as { port: number }).port}`);
  project.provide("holdingUrl", `http://127.0.0.1:${(holding.address() as { port: number }).port}`);
  return async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    slow.closeAllConnections();
    holding.closeAllConnections();
    ingest.closeAllConnections();
    await new Promise<void>((resolve) => ingest.close(() => resolve()));
    await new Promise<void>((resolve) => holding.close(() => resolve()));
    await new Promise<void>((resolve) => slow.close(() => resolve()));
    await new Promise<void>((resolve) => claiming.close(() => resolve()));
    await idp.close();
  };
}
