import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { decodeJwt } from "jose";
import type { TestProject } from "vitest/node";
import { EDGE_ASSERTION_HEADER } from "../../../contract/edge-assertion.ts";
import { IDENTITY_GROUPS_PATH } from "../../../contract/identity-groups.ts";

// An origin for the edge's group tests: answers GET /identity/groups from a membership table the tests set, and
// takes MCP requests (answered with the JSON-RPC message a test set, the SSE events it set as `{ sse: [...] }` and, with
// `hold: true`, never ended, or an empty tool list), remembering the assertion claims (and cookies) of everything it receives. Each test uses its own
// first path segment (`ORIGIN_URL=<url>/<namespace>`), so tests running side by side never share a table. The real origin's
// route is tested in test/origin/google-groups-route.test.ts and end to end in test/e2e/google-groups.test.ts.

interface Namespace {
  memberships: Map<string, string[]>;
  /** Whether the look-up fails: at Google (true), or at the origin's own database. */
  down: boolean | "database";
  answer?: unknown;
  seen: { path: string; claims: Record<string, unknown>; cookie?: string }[];
}

export default async function setup(project: TestProject) {
  const namespaces = new Map<string, Namespace>();
  const namespaceOf = (name: string) => {
    let found = namespaces.get(name);
    if (!found) {
      found = { memberships: new Map(), down: false, seen: [] };
      namespaces.set(name, found);
    }
    return found;
  };
  const server = createServer((request, response) => {
    serve(request, response, namespaceOf).catch((error: Error) => send(response, 500, { error: error.message }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("groupsOriginUrl", `http://127.0.0.1:${(server.address() as { port: number }).port}`);
  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

async function serve(request: IncomingMessage, response: ServerResponse, namespaceOf: (name: string) => Namespace) {
  const [, name = "", ...rest] = new URL(request.url ?? "/", "http://origin").pathname.split("/");
  const path = `/${rest.join("/")}`;
  const space = namespaceOf(name);
  const body = await readText(request);
  if (path === "/_control/groups") {
    const { email, groups } = JSON.parse(body) as { email: string; groups: string[] };
    space.memberships.set(email, groups);
    return send(response, 200, {});
  }
  if (path === "/_control/outage") {
    space.down = (JSON.parse(body) as { down: Namespace["down"] }).down;
    return send(response, 200, {});
  }
  if (path === "/_control/answer") {
    space.answer = JSON.parse(body);
    return send(response, 200, {});
  }
  if (path === "/_control/seen") return send(response, 200, space.seen);
  const assertion = request.headers[EDGE_ASSERTION_HEADER];
  const claims = typeof assertion === "string" ? decodeJwt(assertion) : {};
  space.seen.push({ path, claims, ...(request.headers.cookie && { cookie: request.headers.cookie }) });
  if (path === IDENTITY_GROUPS_PATH) {
    if (space.down === "database")
      return send(response, 503, {
        error: "database_unavailable",
        message: "the origin's database is unavailable; retry shortly",
      });
    if (space.down) return send(response, 503, { error: "google_unavailable", step: "directory", message: "Directory down" });
    const groups = space.memberships.get(String(claims.email)) ?? [];
    return send(response, 200, { groups, source: "google-directory", checkedAt: Math.floor(Date.now() / 1000) });
  }
  const {
    sse: stream,
    headers,
    hold,
  } = (space.answer ?? {}) as {
    sse?: unknown[];
    headers?: Record<string, string>;
    hold?: boolean;
  };
  if (stream) {
    // An answer streamed as these events, then ended (an answer that breaks off when none of them is the response), or
    // held open: a call in flight for as long as the test needs.
    response.writeHead(200, { "content-type": "text/event-stream", "mcp-origin-instance": "groups-origin", ...headers });
    for (const message of stream) response.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
    if (!hold) response.end();
    return;
  }
  send(response, 200, space.answer ?? { jsonrpc: "2.0", id: 1, result: { tools: [] } });
}

function send(response: ServerResponse, status: number, body: unknown) {
  response.writeHead(status, { "content-type": "application/json", "mcp-origin-instance": "groups-origin" });
  response.end(JSON.stringify(body));
}

async function readText(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
