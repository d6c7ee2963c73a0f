import { createServer } from "node:https";
import type { TestProject } from "vitest/node";
import { testTls } from "./test-tls.ts";

/** What a test asks the document server to answer at `/documents/<name>`. */
export interface ServedDocument {
  body: string;
  headers?: Record<string, string>;
  /** Milliseconds before the answer's headers are sent (a slow host). */
  delayMs?: number;
}

/**
 * A Client ID Metadata Document host for the edge tests, on loopback https with the test certificate: a test PUTs
 * a document to `/documents/<name>`, points a client_id at that URL, and reads `/hits/<name>` to learn how often
 * the edge fetched it.
 */
export default async function setup(project: TestProject) {
  const documents = new Map<string, ServedDocument>();
  const hits = new Map<string, number>();
  const server = createServer(testTls(), (request, response) => {
    const [, kind, name = ""] = new URL(request.url ?? "/", "https://localhost").pathname.split("/");
    if (kind === "hits") return void response.end(String(hits.get(name) ?? 0));
    if (kind === "documents" && request.method === "PUT") {
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        documents.set(name, JSON.parse(body) as ServedDocument);
        response.end();
      });
      return;
    }
    const served = kind === "documents" ? documents.get(name) : undefined;
    hits.set(name, (hits.get(name) ?? 0) + 1);
    if (!served) return void response.writeHead(404).end();
    setTimeout(() => {
      if (response.destroyed) return;
      response.writeHead(200, { "content-type": "application/json", ...served.headers }).end(served.body);
    }, served.delayMs ?? 0);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("cimdPort", (server.address() as { port: number }).port);
  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}
